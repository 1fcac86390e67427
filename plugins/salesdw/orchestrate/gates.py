"""How a quality gate stops an Airflow run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gate_stops_the_run() -> Iterator[None]:
    """A failed gate fails its task for good: the data is wrong, and a retry would only repeat it.

    The gate's message (table, check, what was seen, how to see the rows) becomes the task's error.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from salesdw.quality.checkpoint import QualityGateError

    try:
        yield
    except QualityGateError as exc:
        raise AirflowFailException(str(exc)) from None
