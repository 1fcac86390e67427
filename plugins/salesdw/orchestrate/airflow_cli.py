"""`airflow`, as its own console script runs it, ending with an immediate exit.

After `airflow dags test`, Python's teardown of everything the run left in memory (dbt's manifest, Great
Expectations, cosmos' graph: module by module, object by object) took 3.5 s of a 55 s night, after the
run was recorded and every exit handler had run. Here the exit handlers still run and the output is
flushed; only that teardown is skipped. Run as `python -m salesdw.orchestrate.airflow_cli ARGS...`.
"""

from __future__ import annotations

import atexit
import os
import sys


def main() -> None:
    from airflow.__main__ import main as airflow_main

    sys.argv[0] = "airflow"
    try:
        airflow_main()
        code = 0
    except SystemExit as exc:  # what `sys.exit(...)` inside the CLI meant, as Python would report it
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
