"""Telling people: one clear message when a task of the nightly run fails.

The message names the run, the day, the task and what went wrong; for a quality gate that is which
check on which table failed, what was observed against what was expected, and the query that shows
the rows (quality/checkpoint.py words it). It always goes to the task log; when the Airflow
connection `salesdw_alerts` exists it also goes there:
  - an HTTP connection (`http://` or `https://` URI): POSTed as JSON `{"text": ...}` (the shape Slack,
    Teams and Feishu/Lark incoming webhooks accept) to the connection's URL;
  - an SMTP connection (`smtp://user:password@host:port?to=a@x,b@y`): sent as an email.
Credentials stay in the connection (an AIRFLOW_CONN_SALESDW_ALERTS variable, or the metadata DB).
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

ALERTS_CONN_ID = "salesdw_alerts"
log = logging.getLogger(__name__)


def task_label(context: dict) -> str:
    """The task of a callback's context as people read it: its id, and a mapped task's index."""
    ti = context.get("task_instance") or context.get("ti")
    task = getattr(ti, "task_id", "?")
    if getattr(ti, "map_index", -1) not in (-1, None):
        task += f"[{ti.map_index}]"
    return task


def failure_message(context: dict) -> str:
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", "sales_nightly")
    task = task_label(context)
    # the day whose data the run processes (its data interval), not the run's logical date (the day after)
    start = context.get("data_interval_start")
    day = start.date().isoformat() if hasattr(start, "date") else context.get("ds") or "?"
    error = context.get("exception")
    lines = [
        f"salesdw: {dag_id} failed for the data of {day} at task {task} (run {context.get('run_id', '?')}).",
        f"{type(error).__name__ if error else 'Error'}: {error}" if error else "No exception was recorded.",
    ]
    if ti is not None and getattr(ti, "log_url", None):
        lines.append(f"Task log: {ti.log_url}")
    return "\n".join(lines)


def on_failure(context: dict) -> None:
    """Airflow on_failure_callback: log the message, then send it where salesdw_alerts points."""
    message = failure_message(context)
    log.error("%s", message)
    conn = _alerts_connection()
    if conn is None:
        return
    try:
        _send(conn, message)
    except Exception as exc:  # noqa: BLE001 - an alert that cannot be sent must not hide the failure
        log.error("salesdw: could not send the alert through connection %s: %s", ALERTS_CONN_ID, exc)


def _alerts_connection():
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(ALERTS_CONN_ID)
    except Exception:  # noqa: BLE001 - not configured: the task log is the only channel
        return None


def _send(conn, message: str) -> None:
    kind = (conn.conn_type or "").lower()
    if kind in ("http", "https"):
        import httpx

        port = f":{conn.port}" if conn.port else ""
        url = f"{kind}://{conn.host}{port}/{(conn.schema or '').lstrip('/')}"
        auth = (conn.login, conn.password) if conn.login else None
        httpx.post(url, json={"text": message}, auth=auth, timeout=10).raise_for_status()
    elif kind in ("smtp", "email"):
        recipients = [a.strip() for a in str(conn.extra_dejson.get("to", "")).split(",") if a.strip()]
        if not recipients:
            raise ValueError(f"connection {ALERTS_CONN_ID} has no `to` recipients")
        email = EmailMessage()
        email["Subject"] = message.splitlines()[0]
        email["From"] = conn.extra_dejson.get("from", conn.login or "salesdw@localhost")
        email["To"] = ", ".join(recipients)
        email.set_content(message)
        with smtplib.SMTP(conn.host, conn.port or 25, timeout=10) as smtp:
            if conn.login:
                smtp.starttls()
                smtp.login(conn.login, conn.password or "")
            smtp.send_message(email)
    else:
        raise ValueError(f"connection {ALERTS_CONN_ID} is of type {kind!r}: use an http(s) or smtp connection")
