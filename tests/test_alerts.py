"""The on-failure callback: one clear message in the task log and, when configured, to a webhook."""

import json
import logging
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest
from salesdw.orchestrate.alerts import on_failure
from salesdw.quality.checkpoint import QualityGateError

GATE_ERROR = QualityGateError(
    "1 critical expectation(s) failed at the feeds gate; nothing is published:\n"
    '  - raw.finance__payments: finance.payments.amount >= 0; observed {"observed_value": 12};'
    " rows: select * from raw._rejected where source = 'finance' and entity = 'payments'"
)
CONTEXT = {
    "task_instance": SimpleNamespace(dag_id="sales_nightly", task_id="validate_feeds", map_index=-1, log_url=None),
    # the nightly run dated 2026-01-06 processes the data of 2026-01-05: the alert names that day
    "ds": "2026-01-06",
    "data_interval_start": datetime(2026, 1, 5, tzinfo=UTC),
    "run_id": "scheduled__2026-01-06T00:00:00+00:00",
    "exception": GATE_ERROR,
}


@pytest.fixture
def webhook():
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/salesdw", received
    server.shutdown()


def test_a_failure_is_logged_and_posted_to_the_webhook(webhook, monkeypatch, caplog):
    url, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_SALESDW_ALERTS", url)
    with caplog.at_level(logging.ERROR):
        on_failure(CONTEXT)
    assert len(received) == 1
    path, body = received[0]
    assert path == "/hooks/salesdw"
    text = body["text"]
    assert text.startswith("salesdw: sales_nightly failed for the data of 2026-01-05 at task validate_feeds")
    assert "raw.finance__payments: finance.payments.amount >= 0" in text and "select * from raw._rejected" in text
    assert text in caplog.text  # the same message in the task log


def test_without_a_connection_the_log_still_says_it(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_SALESDW_ALERTS", raising=False)
    with caplog.at_level(logging.ERROR):
        on_failure(CONTEXT)
    assert "validate_feeds" in caplog.text and "QualityGateError" in caplog.text


def test_an_unreachable_webhook_does_not_hide_the_failure(monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_SALESDW_ALERTS", "http://127.0.0.1:9/nowhere")
    with caplog.at_level(logging.ERROR):
        on_failure(CONTEXT)
    assert "could not send the alert" in caplog.text and "validate_feeds" in caplog.text
