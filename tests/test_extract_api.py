"""The API extractor (dlt's RESTClient, extract/api.py) against the simulated sources' own APIs and
a real warehouse: windows, retries, duplicates, answers that break the contract."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from salesdw import config
from salesdw.extract.api import ExtractError, RetryPolicy, TokenRejectedError, extract_api
from salesdw_dev.generate import generate
from salesdw_dev.simulate.server import start_in_thread

TOKEN = "test-token"
DAY1 = datetime(2026, 1, 1, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=4, backoff=0.01, max_backoff=5.0)  # a Retry-After of a second is honoured


def _day(n: int) -> tuple[datetime, datetime]:
    start = DAY1 + timedelta(days=n - 1)
    return start, start + timedelta(days=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Generated sources (state for the APIs) and the feeds as the generator lands them, to compare."""
    root = tmp_path_factory.mktemp("world")
    generate(start=DAY1.date(), days=3, scale=0.05, seed=3, data_dir=root, landing_files=True)
    return root


@pytest.fixture
def serve(world):
    servers = []

    def start(state_dir: Path | None = None, **faults):
        server, base = start_in_thread(state_dir or world / "sources", token=TOKEN, **faults)
        servers.append(server)
        return server, base

    yield start
    for server in servers:
        server.stop()


class Extracted(SimpleNamespace):
    """extract_api's result, its paths as paths."""

    def __init__(self, result: dict) -> None:
        super().__init__(**result)
        self.path, self.deleted_path = Path(result["path"]), Path(result["deleted_path"])
        self.batch_date = date.fromisoformat(result["batch_date"])
        for key in ("window_start", "window_end"):
            setattr(self, key, datetime.fromisoformat(result[key]) if result.get(key) else None)


@pytest.fixture
def extract(fresh_db, tmp_path):
    """extract_api for a demo entity, with the test's warehouse and landing folder, small pages and fast retries."""
    landing = tmp_path / "landing"

    def run(name: str, base: str, day: int, **kwargs):
        entity = next(e for e in config.contract() if e.name == name)
        kwargs = {"page_size": 25, "retry": FAST, "timeout": 5.0} | kwargs
        token = kwargs.pop("token", TOKEN)
        return Extracted(
            extract_api(entity, base, None, token, *_day(day), warehouse_url=fresh_db, landing=landing, **kwargs)
        )

    run.landing = landing
    return run


def _records(path: Path) -> list[dict]:
    return [json.loads(line, parse_float=str) for line in path.read_text().splitlines()]


def _without_origin(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "_origin"} for r in _records(path)]


def _windows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select entity, batch_date, window_start, window_end, records, deleted, pages, duplicates"
            " from audit.extract_windows order by entity, batch_date"
        ).fetchall()


def _state_deletes(world: Path, source: str, entity: str, since: datetime | None, before: datetime) -> list:
    key = next(e.primary_key for e in config.entities() if e.name == entity)
    deletes = []
    for line in (world / "sources" / source / f"{entity}.jsonl").read_text().splitlines():
        change = json.loads(line)
        at = datetime.fromisoformat(change["visible_at"])
        if change["op"] == "delete" and (since is None or at >= since) and at < before:
            deletes.append(change["record"][key])
    return deletes


@pytest.mark.parametrize(
    "source, entity, pk",
    [
        ("crm", "opportunities", "opportunity_id"),  # cursor pagination
        ("after_sales", "tickets", "ticket_id"),  # page pagination
    ],
)
def test_first_run_is_full_then_incremental_and_matches_the_feeds(world, serve, extract, fresh_db, source, entity, pk):
    _, base = serve()
    for day in (1, 2, 3):
        result = extract(entity, base, day)
        feed = world / "landing" / source / _day(day)[0].date().isoformat() / f"{entity}.jsonl"
        landed = _without_origin(result.path)
        # the day's changes as the generator lands them, in the API's (visible_at, id) order
        assert sorted(landed, key=lambda r: r[pk]) == sorted(_records(feed), key=lambda r: r[pk])
        assert len({r[pk] for r in landed}) == len(landed) == result.records
        assert result.path == extract.landing / source / _day(day)[0].date().isoformat() / f"{entity}.jsonl"
        origins = [r["_origin"] for r in _records(result.path)] or ["(none)"]
        if landed:
            assert origins[0].startswith(f"GET {base}/{'crm' if source == 'crm' else 'service'}/v1/{entity}?")
            assert origins[0].endswith(" page 1") and origins[-1].endswith(f" page {(len(landed) - 1) // 25 + 1}")
        deleted = [r[pk] for r in _records(result.deleted_path)]
        assert deleted == _state_deletes(world, source, entity, result.window_start, result.window_end)
        assert not list(result.path.parent.glob("*.part*"))
    rows = _windows(fresh_db)
    assert [r[2] for r in rows] == [None, *(DAY1 + timedelta(days=n) for n in (1, 2))]  # full, then incremental
    assert [r[3] for r in rows] == [DAY1 + timedelta(days=n) for n in (1, 2, 3)]
    assert rows[0][4] > rows[1][4]


def test_extracted_files_load(world, serve, extract, fresh_db):
    from salesdw.load.batch import load_file

    _, base = serve()
    result = extract("opportunities", base, 1)
    entity = next(e for e in config.entities() if e.name == "opportunities")
    with psycopg.connect(fresh_db) as conn:
        loaded = load_file(conn, entity, result.path, result.batch_date)
    assert loaded.rows_loaded == result.records and loaded.rows_rejected == 0


def test_a_gap_is_caught_up_from_the_watermark(world, serve, extract, fresh_db):
    _, base = serve()
    extract("tickets", base, 1)
    third = extract("tickets", base, 3)  # day 2 never ran
    assert (third.window_start, third.window_end) == (DAY1 + timedelta(days=1), DAY1 + timedelta(days=3))
    feeds = world / "landing" / "after_sales"
    expected = {}
    for day in ("2026-01-02", "2026-01-03"):  # the later version of a ticket wins
        expected |= {r["ticket_id"]: r for r in _records(feeds / day / "tickets.jsonl")}
    assert {r["ticket_id"]: r for r in _without_origin(third.path)} == expected
    # a date before the watermark, extracted late (a backfill), takes just its own interval
    second = extract("tickets", base, 2)
    assert (second.window_start, second.window_end) == _day(2)


def test_a_rerun_reuses_the_recorded_window_and_writes_the_same_file(serve, extract, fresh_db):
    _, base = serve()
    first = extract("accounts", base, 1)
    extract("accounts", base, 2)
    first_bytes = first.path.read_bytes()
    second = extract("accounts", base, 2)
    second_bytes = second.path.read_bytes()
    extract("accounts", base, 3)  # the watermark moves on
    again = extract("accounts", base, 2)
    assert again.window_reused and (again.window_start, again.window_end) == _day(2)
    assert again.path.read_bytes() == second_bytes
    full_again = extract("accounts", base, 1)
    assert full_again.window_start is None and full_again.path.read_bytes() == first_bytes
    rows = _windows(fresh_db)
    assert len(rows) == 3  # one row per batch, updated by reruns


def test_429_waits_the_retry_after(serve, extract):
    server, base = serve(script={1: "429"}, retry_after=1)
    started = time.monotonic()
    result = extract("reps", base, 1)
    assert time.monotonic() - started >= 1.0
    assert result.records > 0 and server.faults.requests == 3  # the 429, the records, the deletions

    server.configure_faults(script={}, rate_limit=1, rate_burst=1)  # the real limiter: 1 request a second
    started = time.monotonic()
    extract("reps", base, 2)  # two requests: the second waits for its turn
    assert time.monotonic() - started >= 1.0


def test_5xx_and_dropped_connections_are_retried(serve, extract):
    server, base = serve(script={1: "500", 2: "503", 3: "drop", 5: "502"})
    result = extract("targets", base, 1, page_size=40)
    assert result.pages >= 3 and result.records > 40
    assert server.faults.requests == result.pages + 4


def test_5xx_on_every_attempt_fails_clearly_and_lands_nothing(serve, extract, fresh_db):
    server, base = serve(error_rate=1.0, seed=1)
    with pytest.raises(ExtractError) as failure:
        extract("reps", base, 1)
    message = str(failure.value)
    assert message.startswith("crm.reps: GET ") and f"{base}/crm/v1/reps?" in message
    assert "failed after 4 attempts; last: HTTP 50" in message
    assert server.faults.requests == 4
    assert not list(extract.landing.rglob("reps*"))  # no file, no .part left behind
    assert _windows(fresh_db) == []  # and no window recorded: the next run tries the same again


def test_a_slow_answer_times_out_and_is_retried(serve, extract):
    server, base = serve(script={1: "slow"}, slow_seconds=1.5)
    started = time.monotonic()
    result = extract("reps", base, 1, timeout=0.3)
    assert time.monotonic() - started < 1.4  # did not wait for the slow answer
    assert result.records > 0 and server.faults.requests == 3


@pytest.mark.parametrize("entity, pk", [("opportunities", "opportunity_id"), ("tickets", "ticket_id")])
def test_a_page_served_twice_lands_each_record_once(serve, extract, entity, pk):
    _, clean_base = serve()
    clean = extract(entity, clean_base, 1)
    clean_records = _without_origin(clean.path)
    _, base = serve(script={2: "duplicate", 4: "duplicate"})
    result = extract(entity, base, 1)  # a rerun of the batch against the faulty API
    assert result.duplicates == 50 and result.pages == clean.pages + 2
    landed = _without_origin(result.path)
    assert len({r[pk] for r in landed}) == len(landed) == result.records == len(clean_records)
    assert landed == clean_records  # same records, same order


def test_a_rejected_token_names_the_connection(serve, extract):
    _, base = serve()
    with pytest.raises(TokenRejectedError) as failure:
        extract("reps", base, 1, token="stale")
    message = str(failure.value)
    assert f"token rejected by GET {base}/crm/v1/reps?" in message and "Airflow connection 'crm_api'" in message
    with pytest.raises(TokenRejectedError, match="service_desk_api"):
        extract("surveys", base, 1, token="stale")


def test_an_answer_that_is_not_the_contract_names_the_url(serve, extract):
    _, base = serve(script={1: "invalid_json"})
    with pytest.raises(
        ExtractError,
        match=r"tickets: unexpected answer from GET http://127\.0\.0\.1:\d+/service/v1/"
        r"tickets\?.*: expected JSON, got text/html",
    ):
        extract("tickets", base, 1)


def test_field_drift_is_recorded_and_extraction_goes_on(tmp_path, serve, extract, fresh_db, caplog):
    state = tmp_path / "drift"
    (state / "after_sales").mkdir(parents=True)
    changes = []
    for i in range(30):
        record = {
            "survey_id": f"S{i}",
            "ticket_id": f"T{i}",
            "account_id": "A1",
            "csat": 5,
            "nps": 9,
            "submitted_at": "2026-01-01T10:00:00Z",
        }
        if i >= 10:  # the vendor ships a new field and drops one
            record = {k: v for k, v in record.items() if k != "nps"} | {"channel": "email"}
        changes.append(json.dumps({"visible_at": f"2026-01-01T10:{i:02d}:00Z", "op": "upsert", "record": record}))
    (state / "after_sales" / "surveys.jsonl").write_text("\n".join(changes) + "\n")
    _, base = serve(state)
    with caplog.at_level(logging.WARNING, logger="salesdw.extract.api"):
        result = extract("surveys", base, 1, page_size=7)
        extract("surveys", base, 1, page_size=7)  # a rerun replaces, not adds, the batch's record
    assert result.records == 30 and (result.added_fields, result.removed_fields) == (["channel"], ["nps"])
    last = _records(result.path)[-1]  # in the contract's columns: the new field is not landed, the lost one empty
    assert "channel" not in last and last["nps"] is None and last["csat"] == 5
    drift_logs = [r for r in caplog.records if "changed shape" in r.getMessage()]
    assert len(drift_logs) == 2 and "channel" in drift_logs[0].getMessage()
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("select source, entity, batch_date, added, removed from audit.schema_changes").fetchall()
    assert rows == [("after_sales", "surveys", date(2026, 1, 1), ["channel"], ["nps"])]


def test_base_url_and_token_come_from_the_airflow_connection(monkeypatch):
    from salesdw.extract.api import connection_parts

    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_API",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 8765, "schema": "http", "password": "s3cret/+"}),
    )
    assert connection_parts("crm_api") == ("http://127.0.0.1:8765", None, "s3cret/+")
    monkeypatch.setenv("AIRFLOW_CONN_SERVICE_DESK_API", "http://:tok%2Fx@desk.example.com:443/https")
    assert connection_parts("service_desk_api", "http") == ("https://desk.example.com:443", None, "tok/x")
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", "http://:tok@127.0.0.1:8765")  # as salesdw run serves the simulator
    assert connection_parts("crm_api", "http")[0] == "http://127.0.0.1:8765"
    assert connection_parts("crm_api")[0] == "https://127.0.0.1:8765"  # a vendor's default
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", json.dumps({"conn_type": "http", "host": "127.0.0.1"}))
    with pytest.raises(ExtractError, match="crm_api.*API token as its password"):
        connection_parts("crm_api")


@pytest.fixture
def scripted(tmp_path):
    """A bare HTTP server answering each GET with the next of the given JSON bodies (an API that changed)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(bodies.pop(0) if bodies else {"results": [], "next_page": None}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield bodies, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_answer_without_its_records_list_is_an_error_not_an_empty_day(scripted, extract):
    bodies, base = scripted
    bodies.append({"items": [], "next_page": None})  # the vendor renamed its records list
    with pytest.raises(
        ExtractError,
        match=r"tickets: unexpected answer from GET .*/service/v1/tickets\?.*"
        r"expected a JSON object with 'results' \(a list\), got keys \['items', 'next_page'\]",
    ):
        extract("tickets", base, 1)
    assert not list(extract.landing.rglob("tickets*"))


def test_a_next_page_off_the_configured_host_is_not_followed(scripted, extract):
    bodies, base = scripted
    bodies.append({"results": [{"ticket_id": "T1"}], "next_page": "http://elsewhere.example/service/v1/tickets?page=2"})
    with pytest.raises(ExtractError, match=r"points to http://elsewhere\.example/.* outside http://127\.0\.0\.1"):
        extract("tickets", base, 1)


def test_a_next_page_asked_for_twice_is_a_pagination_loop(scripted, extract):
    bodies, base = scripted
    page2 = f"{base}/service/v1/tickets?page=2"
    bodies += [{"results": [{"ticket_id": f"T{i}"}], "next_page": page2} for i in range(3)]
    with pytest.raises(ExtractError, match="pagination loop at GET .*page=2"):
        extract("tickets", base, 1)
