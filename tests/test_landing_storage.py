"""Landing through an object store (SALESDW_LANDING_URL, SALESDW_ARCHIVE_URL; extract/stores.py).

The store here is fsspec's in-memory filesystem (`memory://`), reached as any remote store is:
through Airflow's ObjectStoragePath, the extractor writing a local working copy and uploading it,
the loader reading the object back. What one "worker" extracted, another loads from the URL alone.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from salesdw import config, paths
from salesdw.extract import stores
from salesdw.extract.landing import api_extract
from salesdw.orchestrate import tasks

DAY = date(2026, 1, 1)
INTERVAL = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
INVOICES = config.entity("finance", "invoices")
HEADER = "invoice_id,opportunity_id,account_id,invoice_date,due_date,amount,tax_amount,currency,updated_at\n"
TOKEN = "test-token"


def _memory_fs():
    import fsspec

    return fsspec.filesystem("memory")


def _worker_view(url: str):
    """The object at `url` as another worker sees it: a fresh ObjectStoragePath, nothing shared but the URL."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url)


def _read(url: str) -> bytes:
    with _worker_view(url).open("rb") as f:
        return f.read()


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Landing and archive in a memory:// store of the test's own; local folders in tmp_path (to stay empty)."""
    for name in ("DROP_DIR", "LANDING_DIR", "ARCHIVE_DIR"):
        monkeypatch.setattr(paths, name, tmp_path / name.lower())
    root = f"memory://salesdw-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv(stores.LANDING_URL, f"{root}/landing")
    monkeypatch.setenv(stores.ARCHIVE_URL, f"{root}/archive")
    yield SimpleNamespace(landing=f"{root}/landing", archive=f"{root}/archive", prefix="/" + root.split("://")[1])
    fs = _memory_fs()
    if fs.exists(f"/{root.split('://')[1]}"):
        fs.rm(f"/{root.split('://')[1]}", recursive=True)


def _keys(prefix: str) -> list[str]:
    fs = _memory_fs()
    return sorted(fs.find(prefix)) if fs.exists(prefix) else []


def test_the_default_is_the_local_folder_and_a_file_url_stays_local(monkeypatch, tmp_path):
    monkeypatch.delenv(stores.LANDING_URL, raising=False)
    monkeypatch.delenv(stores.ARCHIVE_URL, raising=False)
    assert stores.landing() == paths.LANDING_DIR and stores.archive() == paths.ARCHIVE_DIR
    monkeypatch.setenv(stores.LANDING_URL, (tmp_path / "elsewhere").as_uri())
    assert stores.landing() == tmp_path / "elsewhere"  # pathlib, as before: renames, no upload
    assert stores.landing(tmp_path / "given") == tmp_path / "given"


def test_a_store_without_its_provider_says_which_package_to_install():
    with pytest.raises(stores.StoreError, match=r"apache-airflow-providers-amazon\[s3fs\]"):
        stores.location("s3://aws_default@salesdw/landing", setting=stores.LANDING_URL)


def test_a_file_delivery_lands_in_the_store_and_another_worker_loads_it(store, fresh_db):
    rows = [
        f"INV{i},O{i},A{i},2026-01-01,2026-01-31,{100 * i}.25,{13 * i}.03,CNY,2026-01-01T08:00:00Z\n"
        for i in range(1, 8)
    ]
    delivered = (HEADER + "".join(rows)).encode()
    drop = paths.DROP_DIR / "finance" / "invoices_20260101.csv"
    drop.parent.mkdir(parents=True)
    drop.write_bytes(delivered)

    extracted = tasks.extract("finance", "invoices", *INTERVAL, url=fresh_db)  # as the DAG's extract task
    landed_url = f"{store.landing}/finance/2026-01-01/invoices.delivery1.csv"
    archived_url = f"{store.archive}/finance/2026-01-01/1-invoices_20260101.csv"
    assert (extracted["status"], extracted["path"], extracted["source_files"]) == (
        "extracted",
        landed_url,
        [archived_url],
    )
    assert extracted["origin"] == str(drop) and not drop.exists()  # moved: archived in the store
    assert _read(archived_url) == delivered
    expected = list(csv.DictReader(io.StringIO(_read(landed_url).decode())))
    assert [r["invoice_id"] for r in expected] == [f"INV{i}" for i in range(1, 8)]
    assert not paths.LANDING_DIR.exists() and not paths.ARCHIVE_DIR.exists()  # nothing landed locally

    # another worker: only the XCom'd result, a JSON round trip of it
    batches = tasks.load("finance", json.loads(json.dumps(extracted)), DAY, url=fresh_db)
    assert (batches[0]["rows_read"], batches[0]["rows_loaded"], batches[0]["rows_rejected"]) == (7, 7, 0)
    with psycopg.connect(fresh_db) as conn:
        loaded = conn.execute(
            "select invoice_id, amount, tax_amount from raw.finance__invoices where _batch_id = %s order by invoice_id",
            [batches[0]["batch_id"]],
        ).fetchall()
        archived_to = conn.execute("select archived_to, outcome from audit.extracted_files").fetchall()
    assert loaded == [(r["invoice_id"], r["amount"], r["tax_amount"]) for r in expected]
    assert archived_to == [(archived_url, "loaded")]
    # settled: the delivery became the day's file, in the store
    day_folder = f"{store.prefix}/landing/finance/2026-01-01"
    assert _keys(day_folder) == [f"{day_folder}/invoices.csv"]

    # the same bytes sent again: compared with the day's file in the store, nothing to do
    drop.write_bytes(delivered)
    again = tasks.extract("finance", "invoices", *INTERVAL, url=fresh_db)
    assert again["status"] == "unchanged" and again["path"] == f"{store.landing}/finance/2026-01-01/invoices.csv"
    assert tasks.load("finance", again, DAY, url=fresh_db)[0]["batch_id"] == batches[0]["batch_id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from salesdw_dev.generate import generate

    root = tmp_path_factory.mktemp("world")
    generate(start=DAY, days=1, scale=0.02, seed=5, data_dir=root, landing_files=True)
    return root


def test_an_api_extract_lands_in_the_store_and_another_worker_loads_it(store, world, fresh_db):
    from salesdw.extract.api import RetryPolicy, extract_api
    from salesdw_dev.simulate.server import start_in_thread

    entity = config.entity("crm", "opportunities")
    server, base = start_in_thread(world / "sources", token=TOKEN)
    try:
        result = extract_api(
            entity,
            base,
            None,
            TOKEN,
            *INTERVAL,
            warehouse_url=fresh_db,
            page_size=25,
            retry=RetryPolicy(max_attempts=2, backoff=0.01),
        )
    finally:
        server.stop()
    assert result["path"] == f"{store.landing}/crm/2026-01-01/opportunities.jsonl"
    assert result["deleted_path"] == f"{store.landing}/crm/2026-01-01/opportunities.deleted.jsonl"
    landed = [json.loads(line, parse_float=str) for line in _read(result["path"]).decode().splitlines()]
    feed = world / "landing" / "crm" / "2026-01-01" / "opportunities.jsonl"
    generated = [json.loads(line, parse_float=str) for line in feed.read_text().splitlines()]
    key = entity.primary_key
    without_origin = [{k: v for k, v in r.items() if k != "_origin"} for r in landed]
    assert sorted(without_origin, key=lambda r: r[key]) == sorted(generated, key=lambda r: r[key]) and landed
    day_folder = f"{store.prefix}/landing/crm/2026-01-01"
    assert [k.rsplit("/", 1)[1] for k in _keys(day_folder)] == ["opportunities.deleted.jsonl", "opportunities.jsonl"]
    assert not paths.LANDING_DIR.exists()

    batches = tasks.load("crm", json.loads(json.dumps(result)), DAY, url=fresh_db)
    assert batches[0]["rows_loaded"] == len(landed) == result["records"] and batches[0]["rows_rejected"] == 0
    assert batches[0]["origin"] == result["path"]  # the batch names the object it was loaded from
    with psycopg.connect(fresh_db) as conn:
        ids = conn.execute(
            f"select {key} from raw.crm__opportunities where _batch_id = %s order by 1", [batches[0]["batch_id"]]
        ).fetchall()
    assert [i for (i,) in ids] == sorted(r[key] for r in landed)


@pytest.mark.parametrize("failure", ["the connection drops", "fewer bytes arrive"])
def test_a_failed_upload_leaves_no_partial_object(store, monkeypatch, failure):
    from fsspec.implementations.memory import MemoryFileSystem

    def broken_put(self, lpath, rpath, **kwargs):
        data = Path(lpath).read_bytes()
        self.pipe_file(rpath, data[: len(data) // 2])  # half of it is there...
        if failure == "the connection drops":
            raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(MemoryFileSystem, "put_file", broken_put)
    folder = stores.landing() / "crm" / "2026-01-01"
    with pytest.raises(stores.StoreError, match=f"{store.landing}/crm/2026-01-01/") as raised:
        with api_extract(folder, "opportunities") as (records, deletions):
            for i in range(200):
                records.write(f"O{i}", {"opportunity_id": f"O{i}", "amount": f"{i}.00"})
            deletions.write("O7", {"opportunity_id": "O7", "deleted_at": "2026-01-01T00:00:00Z"})
    assert ("connection reset" if failure == "the connection drops" else "bytes arrived") in str(raised.value)
    assert _keys(f"{store.prefix}/landing") == []  # ...and gone: no object, whole or partial, under any name
    assert not records.part.parent.exists() and not deletions.part.parent.exists()  # the working copies too
