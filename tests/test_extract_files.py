"""The file-drop extractor: GBK and UTF-8 CSV, XLSX, archive, no file loaded twice, empty files."""

from datetime import date
from pathlib import Path

import psycopg
import pytest
from salesdw import config
from salesdw.extract.files import DropFolderError, extract_files
from salesdw.extract.landing import MissingFeedError
from salesdw.load.batch import load_file
from salesdw_dev.generate import generate

DAY = date(2026, 1, 1)
INVOICES = next(e for e in config.entities() if e.name == "invoices")
PAYMENTS = next(e for e in config.entities() if e.name == "payments")
HEADER = "invoice_id,opportunity_id,account_id,invoice_date,due_date,amount,tax_amount,currency,updated_at\n"


@pytest.fixture
def dirs(tmp_path):
    return {"drop_dir": tmp_path / "drop", "landing": tmp_path / "landing", "archive_dir": tmp_path / "archive"}


def _drop(dirs, name, data: bytes):
    path = dirs["drop_dir"] / "finance" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _load(url, extracted, day=DAY, entity=INVOICES):
    from salesdw.orchestrate.tasks import load

    return load(entity.source, {"source": entity.source, **extracted.__dict__}, day, url=url)[0]


def test_gbk_csv_lands_as_utf8_and_is_archived(fresh_db, dirs):
    row = "INV1,O1,A1,2026-01-01,2026-01-31,100.00,13.00,CNY,2026-01-01T08:00:00Z\n"
    note = "华东区 上海客户"
    src = _drop(dirs, "invoices_20260101.csv", (HEADER + row + f"# {note}\n").encode("gbk"))
    result = extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    assert (result.status, result.encoding, result.delivery, result.origin) == ("extracted", "gb18030", 1, str(src))
    landed = Path(result.path).read_text(encoding="utf-8")
    assert note in landed and landed.startswith(HEADER)
    assert not src.exists() and (dirs["archive_dir"] / "finance" / "2026-01-01" / "1-invoices_20260101.csv").is_file()
    _load(fresh_db, result)  # loaded: the delivery becomes the day's landed file
    assert (dirs["landing"] / "finance" / "2026-01-01" / "invoices.csv").read_text(encoding="utf-8") == landed


def test_an_identical_resend_is_a_no_op_and_the_same_bytes_another_day_are_its_delivery(fresh_db, dirs):
    data = (HEADER + "INV1,O1,A1,2026-01-01,2026-01-31,100.00,13.00,CNY,2026-01-01T08:00:00Z\n").encode()
    _drop(dirs, "invoices_20260101.csv", data)
    first = extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    batch = _load(fresh_db, first)
    assert extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs).status == "reused"  # rerun of the day
    _drop(dirs, "invoices_20260101.csv", data)  # the ERP sends it again
    again = extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    assert again.status == "unchanged" and "identical to delivery 1" in again.note
    assert _load(fresh_db, again)["batch_id"] == batch["batch_id"]  # the day's batch stands
    # nothing overwritten: each delivery archived under its own name
    assert sorted(p.name for p in (dirs["archive_dir"] / "finance" / "2026-01-01").iterdir()) == [
        "1-invoices_20260101.csv",
        "2-invoices_20260101.csv",
    ]
    # the same bytes as the next day's export (an unchanged snapshot): that day's own delivery, loaded
    _drop(dirs, "invoices_20260102.csv", data)
    next_day = extract_files(INVOICES, date(2026, 1, 2), warehouse_url=fresh_db, **dirs)
    assert next_day.status == "extracted" and _load(fresh_db, next_day, date(2026, 1, 2))["rows_loaded"] == 1
    with psycopg.connect(fresh_db) as conn:
        log = conn.execute(
            "select batch_date::text, delivery, outcome, sha256 = %s from audit.extracted_files order by 1, 2",
            [first.sha256],
        ).fetchall()
    assert log == [
        ("2026-01-01", 1, "loaded", True),
        ("2026-01-01", 2, "unchanged", True),
        ("2026-01-02", 1, "loaded", True),
    ]


def test_xlsx_export_loads_with_exact_amounts(fresh_db, tmp_path, dirs):
    generate(start=DAY, days=1, scale=0.02, seed=6, data_dir=tmp_path)
    result = extract_files(PAYMENTS, DAY, warehouse_url=fresh_db, **dirs)
    assert (result.status, result.encoding) == ("extracted", "xlsx")
    with psycopg.connect(fresh_db) as conn:
        batch = load_file(conn, PAYMENTS, Path(result.path), DAY)
        assert batch.rows_read == batch.rows_loaded > 0 and batch.rows_rejected == 0
        amounts = [a for (a,) in conn.execute("select amount from raw.finance__payments").fetchall()]
    assert all(len(a.split(".")[-1]) <= 2 for a in amounts)  # cents survive the spreadsheet


def test_a_quiet_day_is_a_header_or_a_marker_and_a_0_byte_file_is_refused(fresh_db, dirs):
    _drop(dirs, "invoices_20260101.csv", b"")
    with pytest.raises(DropFolderError) as err:
        extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    assert "invoices_20260101.csv" in str(err.value) and "0 bytes" in str(err.value) and ".empty" in str(err.value)
    for name, data in (("invoices_20260101.empty", b""), ("invoices_20260101.csv", HEADER.encode())):
        _drop(dirs, name, data)
        result = extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
        assert result.status == "extracted" and (_load(fresh_db, result)["rows_read"], result.encoding) == (
            0,
            "marker" if name.endswith(".empty") else "utf-8",
        )
    with psycopg.connect(fresh_db) as conn:
        outcomes = conn.execute("select delivery, outcome from audit.extracted_files order by 1").fetchall()
    assert outcomes == [(1, "refused"), (2, "superseded"), (3, "loaded")]


def test_days_without_records_are_not_redeliveries(fresh_db, dirs):
    # two quiet days: the same header-only bytes, each day's own (empty) export
    for day in (DAY, date(2026, 1, 2)):
        _drop(dirs, f"invoices_{day:%Y%m%d}.csv", HEADER.encode())
        assert extract_files(INVOICES, day, warehouse_url=fresh_db, **dirs).status == "extracted"


def test_missing_and_ambiguous_exports_say_what_was_expected(fresh_db, dirs):
    with pytest.raises(MissingFeedError) as err:
        extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    assert "invoices_20260101.csv, .xlsx or .empty" in str(err.value)
    _drop(dirs, "invoices_20260101.csv", HEADER.encode())
    _drop(dirs, "invoices_20260101.xlsx", b"not really a workbook")
    with pytest.raises(DropFolderError) as err:
        extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    assert "2 exports" in str(err.value)


def test_broken_workbook_is_a_clear_error(fresh_db, dirs):
    _drop(dirs, "payments_20260101.xlsx", b"PK\x03\x04 truncated")
    with pytest.raises(DropFolderError) as err:
        extract_files(PAYMENTS, DAY, warehouse_url=fresh_db, **dirs)
    assert "payments_20260101.xlsx" in str(err.value) and "XLSX" in str(err.value)
