"""How a failure that no retry can mend stops an Airflow run at once: a quality gate, a refused
delivery, a missing connection. The message (what was seen, where, what to do) becomes the task's
error, without a traceback, and the on-failure alert carries it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gate_stops_the_run() -> Iterator[None]:
    """A failed gate fails its task for good: the data is wrong, and a retry would only repeat it.

    The gate's message (table, check, what was seen, how to see the rows) becomes the task's error.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from salesdw.quality.results import QualityGateError

    try:
        yield
    except QualityGateError as exc:
        raise AirflowFailException(str(exc)) from None


@contextmanager
def refusal_fails_at_once() -> Iterator[None]:
    """A refused delivery (the file as delivered cannot be loaded) or a connection that is not
    defined fails the task without retries: a corrected delivery, or the connection, is what helps."""
    from airflow.sdk.exceptions import AirflowFailException

    from salesdw.errors import RefusedDeliveryError
    from salesdw.extract.run import MissingConnectionError

    try:
        yield
    except (RefusedDeliveryError, MissingConnectionError) as exc:
        raise AirflowFailException(str(exc)) from None
