"""The file-drop extractor: GBK and UTF-8 CSV, XLSX, archive, no file loaded twice, empty files."""

from datetime import date

import psycopg
import pytest
from salesdw import config
from salesdw.extract.files import DropFolderError, extract_files
from salesdw.extract.landing import MissingFeedError
from salesdw.generate import generate
from salesdw.load.batch import load_file

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


def test_gbk_csv_lands_as_utf8_and_is_archived(fresh_db, dirs):
    row = "INV1,O1,A1,2026-01-01,2026-01-31,100.00,13.00,CNY,2026-01-01T08:00:00Z\n"
    note = "华东区 上海客户"
    src = _drop(dirs, "invoices_20260101.csv", (HEADER + row + f"# {note}\n").encode("gbk"))
    result = extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    assert (result.status, result.encoding) == ("extracted", "gb18030")
    landed = (dirs["landing"] / "finance" / "2026-01-01" / "invoices.csv").read_text(encoding="utf-8")
    assert note in landed and landed.startswith(HEADER)
    assert not src.exists() and (dirs["archive_dir"] / "finance" / "2026-01-01" / "invoices_20260101.csv").is_file()


def test_same_file_delivered_twice_is_not_loaded_twice(fresh_db, dirs):
    data = (HEADER + "INV1,O1,A1,2026-01-01,2026-01-31,100.00,13.00,CNY,2026-01-01T08:00:00Z\n").encode()
    _drop(dirs, "invoices_20260101.csv", data)
    assert extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs).status == "extracted"
    assert extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs).status == "reused"  # rerun of the day
    _drop(dirs, "invoices_20260101.csv", data)  # the ERP sends it again
    again = extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    assert again.status == "duplicate" and "duplicate" in again.source_files[0]
    # the same bytes renamed as the next day's export: refused, not loaded twice
    _drop(dirs, "invoices_20260102.csv", data)
    with pytest.raises(DropFolderError) as err:
        extract_files(INVOICES, date(2026, 1, 2), warehouse_url=fresh_db, **dirs)
    assert "byte-identical" in str(err.value) and "2026-01-01" in str(err.value)
    forced = extract_files(INVOICES, date(2026, 1, 2), warehouse_url=fresh_db, force=True, **dirs)
    assert forced.status == "extracted"
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from audit.extracted_files").fetchone()[0] == 1


def test_xlsx_export_loads_with_exact_amounts(fresh_db, tmp_path, dirs):
    generate(start=DAY, days=1, scale=0.02, seed=6, data_dir=tmp_path)
    result = extract_files(PAYMENTS, DAY, warehouse_url=fresh_db, **dirs)
    assert (result.status, result.encoding) == ("extracted", "xlsx")
    with psycopg.connect(fresh_db) as conn:
        batch = load_file(conn, PAYMENTS, tmp_path / "landing" / "finance" / "2026-01-01" / "payments.csv", DAY)
        assert batch.rows_read == batch.rows_loaded > 0 and batch.rows_rejected == 0
        amounts = [a for (a,) in conn.execute("select amount from raw.finance__payments").fetchall()]
    assert all(len(a.split(".")[-1]) <= 2 for a in amounts)  # cents survive the spreadsheet


def test_empty_export_is_an_empty_batch(fresh_db, dirs):
    _drop(dirs, "invoices_20260101.csv", b"")
    result = extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    with psycopg.connect(fresh_db) as conn:
        batch = load_file(conn, INVOICES, dirs["landing"] / "finance" / "2026-01-01" / "invoices.csv", DAY)
    assert result.status == "extracted" and (batch.rows_read, batch.rows_loaded) == (0, 0)


def test_days_without_records_are_not_redeliveries(fresh_db, dirs):
    # two quiet days: the same header-only bytes, each day's own (empty) export
    for day in (DAY, date(2026, 1, 2)):
        _drop(dirs, f"invoices_{day:%Y%m%d}.csv", HEADER.encode())
        assert extract_files(INVOICES, day, warehouse_url=fresh_db, **dirs).status == "extracted"


def test_missing_and_ambiguous_exports_say_what_was_expected(fresh_db, dirs):
    with pytest.raises(MissingFeedError) as err:
        extract_files(INVOICES, DAY, warehouse_url=fresh_db, **dirs)
    assert "invoices_20260101.csv or .xlsx" in str(err.value)
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
