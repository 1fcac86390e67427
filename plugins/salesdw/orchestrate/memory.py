"""Each task's peak memory, in its log: `salesdw task memory: <task> peak RSS <N> MB`.

A task's peak resident set is what sizes a worker (issue 14's target: 512 MB a task). Linux keeps a
process's peak (VmHWM in /proc/self/status) and lets the process reset it to the current size
(writing 5 to /proc/self/clear_refs), so each task resets it when it starts and reads it when it ends.
Where several tasks share a process (`airflow dags test`, as `salesdw run` runs the DAG) the figure
also holds what the earlier ones left allocated: an upper bound of the task's own. Elsewhere than on
Linux there is nothing to read, and nothing is said.
"""

from __future__ import annotations

import logging
from pathlib import Path

from salesdw.orchestrate.alerts import task_label

log = logging.getLogger(__name__)
PREFIX = "salesdw task memory:"


def reset_peak(context: dict) -> None:
    """on_execute_callback: the peak from here on is this task's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def log_peak(context: dict) -> None:
    """on_success_callback: say the task's peak resident memory."""
    peak = peak_mb()
    if peak is not None:
        log.info("%s %s peak RSS %.0f MB", PREFIX, task_label(context), peak)
