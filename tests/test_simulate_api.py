"""The simulated CRM and service-desk APIs: auth, windows, pagination, rate limits and faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from salesdw.warehouse.embedded import free_port
from salesdw_dev.generate import generate
from salesdw_dev.simulate.server import resolve_token, start_in_thread

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _change(at: str, op: str, record: dict) -> str:
    return json.dumps({"visible_at": at, "op": op, "record": record})


def _opp(oid: str, version: str, updated: str) -> dict:
    return {"opportunity_id": oid, "stage": version, "amount": 100.5, "updated_at": updated}


@pytest.fixture
def tiny_state(tmp_path) -> Path:
    """A hand-made history with a delete and a late change, in both APIs."""
    lines = [
        _change("2026-01-01T10:00:00Z", "upsert", _opp("O1", "v1", "2026-01-01T10:00:00Z")),
        _change("2026-01-01T12:00:00Z", "upsert", _opp("O2", "v1", "2026-01-01T12:00:00Z")),
        _change("2026-01-02T09:00:00Z", "upsert", _opp("O1", "v2", "2026-01-01T23:00:00Z")),  # late arrival
        _change("2026-01-02T10:00:00Z", "delete", {"opportunity_id": "O2"}),
        _change("2026-01-02T11:00:00Z", "upsert", _opp("O3", "v1", "2026-01-02T11:00:00Z")),
        _change("2026-01-03T08:00:00Z", "upsert", _opp("O3", "v2", "2026-01-03T08:00:00Z")),
    ]
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "opportunities.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "after_sales").mkdir()
    tickets = [line.replace("opportunity_id", "ticket_id") for line in lines]
    (tmp_path / "after_sales" / "tickets.jsonl").write_text("\n".join(tickets) + "\n")
    return tmp_path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Generated source state (a year of history plus three days), small."""
    root = tmp_path_factory.mktemp("world")
    generate(start=date(2026, 1, 1), days=3, scale=0.05, seed=11, data_dir=root)
    return root / "sources"


@pytest.fixture
def serve():
    servers = []

    def start(state_dir: Path, **kwargs):
        server, base = start_in_thread(state_dir, token=kwargs.pop("token", TOKEN), **kwargs)
        servers.append(server)
        return server, httpx.Client(base_url=base, headers=AUTH, timeout=5)

    yield start
    for server in servers:
        server.stop()


def _expected(state_file: Path, pk: str, since: str | None = None, before: str | None = None) -> dict:
    """The window semantics, computed plainly: each key's latest change before `before`, if in the window."""
    latest = {}
    for line in state_file.read_text().splitlines():
        change = json.loads(line)
        if before is None or change["visible_at"] < before:
            latest[change["record"][pk]] = change
    return {
        k: c["record"] for k, c in latest.items() if c["op"] == "upsert" and (since is None or c["visible_at"] >= since)
    }


def _all_cursor_pages(client, path, **params) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        body = client.get(path, params=params | ({"cursor": cursor} if cursor else {})).raise_for_status().json()
        pages.append(body["records"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def _all_numbered_pages(client, path, **params) -> tuple[list[list[dict]], list[int]]:
    pages, counts, url = [], [], path
    body = client.get(url, params=params).raise_for_status().json()
    while True:
        pages.append(body["results"])
        counts.append(body["count"])
        if body["next_page"] is None:
            return pages, counts
        body = client.get(body["next_page"]).raise_for_status().json()


def test_every_request_needs_the_token(tiny_state, serve):
    _, client = serve(tiny_state)
    assert client.get("/health", headers={"Authorization": ""}).status_code == 200
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.get("/crm/v1/opportunities", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/service/v1/tickets").status_code == 200
    assert client.get("/crm/v1/nope").status_code == 404


@pytest.mark.parametrize(
    "path, items, pk",
    [
        ("/crm/v1/opportunities", "records", "opportunity_id"),
        ("/service/v1/tickets", "results", "ticket_id"),
    ],
)
def test_windows_on_the_system_modstamp(tiny_state, serve, path, items, pk):
    _, client = serve(tiny_state)

    def listing(suffix="", **window):
        body = client.get(path + suffix, params=window).raise_for_status().json()
        return [
            (r[pk], r.get("stage", r.get("deleted_at"))) if not suffix else (r["id"], r["deleted_at"])
            for r in body[items]
        ]

    assert listing() == [("O1", "v2"), ("O3", "v2")]  # everything: current state, the deleted O2 left out
    assert listing(modified_since="2026-01-01T00:00:00Z", modified_before="2026-01-02T00:00:00Z") == [
        ("O1", "v1"),
        ("O2", "v1"),
    ]  # as the API showed it then
    # each key's latest change before the end, if it falls in the window; the late O1 v2 is here
    assert listing(modified_since="2026-01-02T00:00:00Z", modified_before="2026-01-03T00:00:00Z") == [
        ("O1", "v2"),
        ("O3", "v1"),
    ]
    assert listing(modified_since="2026-01-03T00:00:00Z") == [("O3", "v2")]
    # half-open: modified_before excludes its own instant, modified_since includes it
    assert listing(modified_since="2026-01-02T09:00:00Z", modified_before="2026-01-02T10:00:00Z") == [("O1", "v2")]
    assert listing("/deleted", modified_since="2026-01-02T09:00:00Z", modified_before="2026-01-02T10:00:00Z") == []
    assert listing("/deleted", modified_since="2026-01-02T10:00:00Z") == [("O2", "2026-01-02T10:00:00Z")]
    assert listing("/deleted", modified_before="2026-01-02T00:00:00Z") == []
    # offsets are understood; an unencoded "+" arrives as a space and is still read as an offset
    assert listing(modified_since="2026-01-02T08:00:00+08:00") == [("O1", "v2"), ("O3", "v2")]
    assert client.get(f"{path}?modified_since=2026-01-02T08:00:00+08:00").json()[items][0][pk] == "O1"
    bad = client.get(path, params={"modified_since": "yesterday"})
    assert bad.status_code == 400 and "modified_since" in bad.json()["message"]


def test_cursor_pagination_gives_every_record_once(world, serve):
    _, client = serve(world)
    state = world / "crm" / "opportunities.jsonl"
    for window in ({}, {"modified_since": "2026-01-02T00:00:00Z", "modified_before": "2026-01-03T00:00:00Z"}):
        pages = _all_cursor_pages(client, "/crm/v1/opportunities", limit=37, **window)
        ids = [r["opportunity_id"] for page in pages for r in page]
        expected = _expected(state, "opportunity_id", window.get("modified_since"), window.get("modified_before"))
        assert len(ids) == len(set(ids)) == len(expected)
        assert {r["opportunity_id"]: r for page in pages for r in page} == expected
        assert all(len(page) == 37 for page in pages[:-1])
    deleted = [r["id"] for page in _all_cursor_pages(client, "/crm/v1/opportunities/deleted", limit=2) for r in page]
    deletes = [json.loads(x) for x in state.read_text().splitlines()]
    assert deleted == [c["record"]["opportunity_id"] for c in deletes if c["op"] == "delete"] and deleted
    garbage = client.get("/crm/v1/opportunities", params={"cursor": "not-a-cursor"})
    assert garbage.status_code == 400 and garbage.json()["error"] == "invalid_cursor"
    first = client.get("/crm/v1/opportunities", params={"limit": 5}).json()
    other = client.get("/crm/v1/accounts", params={"cursor": first["next_cursor"]})
    assert other.status_code == 400 and "crm.opportunities" in other.json()["message"]


def test_page_pagination_gives_every_record_once(world, serve):
    server, client = serve(world)
    state = world / "after_sales" / "tickets.jsonl"
    pages, counts = _all_numbered_pages(client, "/service/v1/tickets", per_page=9)
    expected = _expected(state, "ticket_id")
    ids = [r["ticket_id"] for page in pages for r in page]
    assert len(ids) == len(set(ids)) == len(expected) == counts[0] == counts[-1]
    first = client.get("/service/v1/tickets", params={"per_page": 9}).json()
    assert first["next_page"].startswith(server.base_url + "/service/v1/tickets?")
    assert "page=2" in first["next_page"] and "per_page=9" in first["next_page"]


@pytest.mark.parametrize(
    "path, pk",
    [
        ("/crm/v1/activities", "activity_id"),
        ("/crm/v1/leads", "lead_id"),
        ("/service/v1/service_contracts", "contract_id"),
    ],
)
def test_every_api_entity_in_sources_yml_is_served(world, serve, path, pk):
    _, client = serve(world)
    source = "crm" if path.startswith("/crm") else "after_sales"
    state = world / source / f"{path.rsplit('/', 1)[1]}.jsonl"
    if source == "crm":
        records = [r for page in _all_cursor_pages(client, path, limit=500) for r in page]
    else:
        records = [r for page in _all_numbered_pages(client, path, per_page=500)[0] for r in page]
    assert records and {r[pk]: r for r in records} == _expected(state, pk)
    deleted = client.get(path + "/deleted").raise_for_status().json()
    assert "records" in deleted or "results" in deleted


def test_rate_limit_answers_429_with_retry_after(tiny_state, serve):
    _, client = serve(tiny_state, rate_limit=1)
    assert client.get("/crm/v1/opportunities").status_code == 200
    limited = client.get("/crm/v1/opportunities")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    time.sleep(1.0)
    assert client.get("/crm/v1/opportunities").status_code == 200


def test_faults_are_scripted_and_changed_at_run_time(tiny_state, serve):
    _, client = serve(tiny_state, slow_seconds=0.5)
    assert (
        client.post(
            "/_admin/faults",
            json={"script": {"2": "503", "3": "slow", "4": "429", "5": "drop"}},
            headers={"Authorization": ""},
        ).status_code
        == 401
    )
    snapshot = client.post(
        "/_admin/faults",
        json={"script": {"2": "503", "3": "slow", "4": "429", "5": "drop", "6": "invalid_json"}, "retry_after": 2},
    ).json()
    assert snapshot["requests"] == 0 and snapshot["faults"]["script"]["2"] == "503"
    assert client.get("/crm/v1/opportunities").status_code == 200
    assert client.get("/crm/v1/opportunities").status_code == 503
    started = time.monotonic()
    assert client.get("/crm/v1/opportunities").status_code == 200
    assert time.monotonic() - started >= 0.5
    limited = client.get("/crm/v1/opportunities")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/crm/v1/opportunities")
    html = client.get("/crm/v1/opportunities")
    assert html.status_code == 200 and html.headers["Content-Type"] == "text/html"
    assert client.get("/crm/v1/opportunities").status_code == 200
    assert client.get("/_admin/faults").json()["requests"] == 7
    bad = client.post("/_admin/faults", json={"error_rate": 2})
    assert bad.status_code == 400 and "error_rate" in bad.json()["message"]
    bad = client.post("/_admin/faults", json={"typo_rate": 0.1})
    assert bad.status_code == 400 and "typo_rate" in bad.json()["message"]


def test_random_faults_are_deterministic_with_a_seed(tiny_state, serve):
    runs = []
    for _ in range(2):
        _, client = serve(tiny_state, error_rate=0.4, seed=7)
        runs.append([client.get("/crm/v1/opportunities").status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert {500, 502, 503} & set(runs[0]) and 200 in runs[0]
    assert 0.2 < runs[0].count(200) / 30 < 0.8


def test_a_page_served_twice_loses_nothing(world, serve):
    server, client = serve(world)
    clean = _all_cursor_pages(client, "/crm/v1/opportunities", limit=50)
    server.configure_faults(script={3: "duplicate"})  # request 3 asks for page 3, gets page 2 again
    faulty = _all_cursor_pages(client, "/crm/v1/opportunities", limit=50)
    assert len(faulty) == len(clean) + 1
    assert faulty[2] == faulty[1] == clean[1]
    assert faulty[:2] + faulty[3:] == clean

    clean_pages, _ = _all_numbered_pages(client, "/service/v1/tickets", per_page=20)
    server.configure_faults(script={2: "duplicate"})
    faulty_pages, _ = _all_numbered_pages(client, "/service/v1/tickets", per_page=20)
    assert faulty_pages[1] == faulty_pages[0] == clean_pages[0]
    assert faulty_pages[:1] + faulty_pages[2:] == clean_pages


def test_the_token_comes_from_the_flag_the_environment_or_a_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SALESDW_SOURCES_TOKEN", raising=False)
    assert resolve_token(tmp_path, "given", echo=lambda _: None) == "given"
    said = []
    made = resolve_token(tmp_path, echo=said.append)
    token_file = tmp_path / "sources_token"
    assert token_file.read_text().strip() == made and len(made) >= 32
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert str(token_file) in said[0] and made not in said[0]
    assert resolve_token(tmp_path, echo=said.append) == made  # made once, then reused
    monkeypatch.setenv("SALESDW_SOURCES_TOKEN", "from-env")
    assert resolve_token(tmp_path, echo=said.append) == "from-env"
    with pytest.raises(ValueError, match="127.0.0.1"):
        start_in_thread(tmp_path, host="0.0.0.0")


def test_the_command_serves_until_stopped(tiny_state):
    port = free_port()
    env = dict(os.environ, SALESDW_SOURCES_TOKEN=TOKEN)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "salesdw_dev.simulate",
            "--state-dir",
            str(tiny_state),
            "--port",
            str(port),
            "--fault-at",
            "1=502",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/crm/v1/opportunities"
        assert httpx.get(url, headers=AUTH).status_code == 502
        assert httpx.get(url, headers=AUTH).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{port}" in out and "/crm/v1/opportunities" in out

    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "salesdw_dev.simulate",
            "--state-dir",
            str(tiny_state / "nowhere"),
            "--token",
            "x",
            "--port",
            str(port),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 1 and "salesdw generate" in missing.stderr
