"""The vendors' APIs, configured and extracted: Salesforce, HubSpot CRM v3, Zoho CRM, Zendesk.

The simulator serves one source state in each vendor's documented shape (simulate/vendors.py); the
deployment names the vendor (`api: salesforce`); the extractor (extract/api.py, on dlt's
RESTClient) lands the day's records in the contract's columns, with the deletions, across many
pages. Like the real APIs the simulator answers with current versions only: a record changed after
the day is the next day's, and a rerun of the day replays what was landed for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from salesdw import config
from salesdw.extract.api import extract_api
from salesdw_dev.simulate.server import start_in_thread
from salesdw_dev.simulate.state import load_entity

D = datetime(2026, 3, 1, tzinfo=UTC)


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _opportunity(i: int, **changes) -> dict:
    return {
        "opportunity_id": f"O{i:02d}",
        "account_id": f"A{i % 3}",
        "owner_rep_id": "R1",
        "product_line": "software",
        "amount": f"{1000 + i}.50",
        "currency": "CNY",
        "stage": "proposal",
        "lead_source": "web",
        "created_at": _ts(D - timedelta(days=30)),
        "expected_close_date": "2026-04-30",
        "closed_at": None,
    } | changes


def _ticket(i: int, **changes) -> dict:
    return {
        "ticket_id": 100 + i,
        "account_id": f"A{i % 3}",
        "priority": "high",
        "status": "open",
        "opened_at": _ts(D - timedelta(days=2)),
    } | changes


def _state(tmp_path, source: str, name: str, make) -> dict:
    """25 records changed on D; #3 changed again on D, #4 again the next day (a late update: the
    next day's), #5 deleted on D, #6 last changed the day before."""
    changes = [(D + timedelta(minutes=i), "upsert", make(i)) for i in range(1, 26)]
    changes += [
        (D + timedelta(hours=12), "upsert", make(3, stage="negotiation", status="pending")),
        (D + timedelta(days=1, hours=10), "upsert", make(4, stage="contract", status="solved")),
        (D + timedelta(hours=15), "delete", make(5)),
    ]
    changes[5] = (D - timedelta(hours=3), "upsert", make(6))
    path = tmp_path / "state" / source / f"{name}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"visible_at": _ts(at), "op": op, "record": r}) + "\n" for at, op, r in changes))
    return {(source, name): load_entity(config.entity(source, name), path)}


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


CRM = """
sources:
  crm:
    api: {vendor}
    connection_id: crm_api
    entities:
      opportunities: {{}}
"""
# the state's fields that each vendor's standard (or mapped custom) fields carry
CARRIED = {
    "salesforce": ["account_id", "owner_rep_id", "product_line", "amount", "currency", "stage", "lead_source"],
    "hubspot": ["account_id", "owner_rep_id", "product_line", "amount", "currency", "stage", "closed_at"],
    "zoho": ["account_id", "owner_rep_id", "product_line", "amount", "currency", "stage", "lead_source"],
}


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot", "zoho"])
def test_each_crm_vendor_lands_the_day_with_its_deletions(vendor, deployed, tmp_path, fresh_db):
    deployed(CRM.format(vendor=vendor))
    opportunities = config.entity("crm", "opportunities")
    assert (opportunities.api_profile, opportunities.delivery, opportunities.format) == (vendor, "api", "jsonl")
    server, base_url = start_in_thread(_state(tmp_path, "crm", "opportunities", _opportunity))
    server.vendor_apis.page_size = 4  # many pages: every paginator turns
    try:
        day, landing = (D, D + timedelta(days=1)), tmp_path / "landing"
        first = extract_api(
            opportunities, base_url, "salesdw-app", server.token, *day, warehouse_url=fresh_db, landing=landing
        )
        assert first["status"] == "extracted" and first["pages"] > 6
        rows = {r["opportunity_id"]: r for r in _lines(first["path"])}
        # the first run takes the whole history (O06 from the day before); O04's current version
        # is the next day's, O05 is deleted
        expected = {f"O{i:02d}" for i in range(1, 26)} - {"O04", "O05"}
        assert set(rows) == expected
        for key, row in rows.items():
            source = _opportunity(int(key[1:]), **({"stage": "negotiation"} if key == "O03" else {}))
            for column in CARRIED[vendor]:
                assert row[column] == source[column], (vendor, key, column)
            assert Decimal(str(row["amount"])) == Decimal(source["amount"])
            assert row["_origin"].split()[0] in ("GET", "POST") and " page " in row["_origin"]
        assert datetime.fromisoformat(rows["O03"]["updated_at"]) == D + timedelta(hours=12)
        gone = _lines(first["deleted_path"])
        deleted = [(d["opportunity_id"], datetime.fromisoformat(d["deleted_at"])) for d in gone]
        assert deleted == [("O05", D + timedelta(hours=15))]

        # the landed extract loads as any API's: records and deletions, each a batch of the day
        from salesdw.orchestrate.tasks import load

        batches = load("crm", first, D.date(), url=fresh_db)
        assert [(b["entity"], b["rows_loaded"], b["rows_rejected"]) for b in batches] == [
            ("opportunities", 23, 0),
            ("opportunities__deleted", 1, 0),
        ]

        # the next day: the late update of O04, nothing else changed
        second = extract_api(
            opportunities, base_url, "salesdw-app", server.token, D + timedelta(days=1), D + timedelta(days=2),
            warehouse_url=fresh_db, landing=landing,
        )  # fmt: skip
        assert [(r["opportunity_id"], r["stage"]) for r in _lines(second["path"])] == [("O04", "contract")]
        assert _lines(second["deleted_path"]) == []

        # a rerun of the first day replays what was landed for it, unless asked to refetch
        again = extract_api(
            opportunities, base_url, "salesdw-app", server.token, *day, warehouse_url=fresh_db, landing=landing
        )
        assert again["status"] == "replayed" and _lines(again["path"]) == _lines(first["path"])
        fetched = extract_api(
            opportunities, base_url, "x", server.token, *day, warehouse_url=fresh_db, landing=landing, refetch=True
        )
        assert fetched["status"] == "extracted"
    finally:
        server.stop()


def test_zendesk_incremental_export_lands_tickets_and_deleted_tickets(deployed, tmp_path, fresh_db):
    deployed("sources:\n  after_sales:\n    api: zendesk\n    entities:\n      tickets: {}\n")
    tickets = config.entity("after_sales", "tickets")
    server, base_url = start_in_thread(_state(tmp_path, "after_sales", "tickets", _ticket))
    server.vendor_apis.page_size = 4
    try:
        result = extract_api(
            tickets, base_url, None, server.token, D, D + timedelta(days=1), warehouse_url=fresh_db,
            landing=tmp_path / "landing",
        )  # fmt: skip
        rows = {r["ticket_id"]: r for r in _lines(result["path"])}
        assert set(rows) == {100 + i for i in range(1, 26)} - {104, 105}
        assert rows[103]["status"] == "pending" and rows[101]["account_id"] == "A1"
        assert [d["ticket_id"] for d in _lines(result["deleted_path"])] == [105]
    finally:
        server.stop()


def test_a_rejected_token_is_one_sentence_with_the_url(deployed, tmp_path, fresh_db):
    from salesdw.extract.api import TokenRejectedError

    deployed(CRM.format(vendor="hubspot"))
    server, base_url = start_in_thread(_state(tmp_path, "crm", "opportunities", _opportunity))
    try:
        with pytest.raises(
            TokenRejectedError,
            match=r"token rejected by POST http://127\.0\.0\.1:\d+/crm/v3/objects/deals/search \(HTTP 401.*'crm_api'",
        ):
            extract_api(
                config.entity("crm", "opportunities"), base_url, None, "wrong", D, D + timedelta(days=1),
                warehouse_url=fresh_db, landing=tmp_path / "landing",
            )  # fmt: skip
    finally:
        server.stop()


def test_every_profile_maps_contract_columns_only():
    from salesdw.extract import vendors

    for name, spec in vendors.profiles().items():
        for entity, mapped in spec.get("entities", {}).items():
            source, table = entity.split(".")
            assert set(mapped["columns"]) <= set(config.entity(source, table).columns), (name, entity)
