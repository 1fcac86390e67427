"""Real files at the door: a corpus of malformed and unusual variants of one day's ERP invoices export.

Each variant goes through `salesdw land`'s own code (orchestrate/tasks.land: extract from the drop
folder, load, references) and gets exactly one of three treatments: it loads fully; it loads and
rejects exactly its bad rows, each with the rule it broke and the line it is on; or it is refused
with a message naming the delivered file, and the day keeps the batch it had. In every case the
records in the file = loaded + rejected.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from salesdw import config
from salesdw.load.batch import load_file
from salesdw.orchestrate import tasks

DAY = date(2026, 3, 2)
INVOICES = config.entity("finance", "invoices")
COLUMNS = list(INVOICES.columns)
ROWS = 20


def _row(i: int, **changes) -> dict:
    row = {
        "invoice_id": f"INV{i:04d}",
        "opportunity_id": f"O{1 + i % 3}",
        "account_id": f"A{1 + i % 3}",
        "invoice_date": "2026-03-02",
        "due_date": "2026-04-01",
        "amount": f"{100 * i}.50",
        "tax_amount": f"{13 * i}.07",
        "currency": "CNY",
        "updated_at": "2026-03-02T08:00:00Z",
    }
    return row | changes


def _csv(rows: list[dict], columns=COLUMNS, newline="\n", quoting=csv.QUOTE_MINIMAL) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline, quoting=quoting)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue()


BASE = [_row(i) for i in range(1, ROWS + 1)]
TEXT = _csv(BASE)
LINES = TEXT.splitlines(keepends=True)


def _bad(line: int, **changes) -> str:
    """The base export with the record on `line` (header = line 1) changed."""
    rows = [dict(r) for r in BASE]
    rows[line - 2] |= changes
    return _csv(rows)


def _xlsx(rows: list[list], path: Path) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path.read_bytes()


@dataclass
class Variant:
    name: str
    data: bytes | None  # None: built by `build` from the test's tmp dir
    loaded: int = ROWS
    rejected: dict = field(default_factory=dict)  # rule -> rows
    lines: dict = field(default_factory=dict)  # rule -> the line of its (first) rejected row
    blank: int = 0
    refused: str = ""  # a part of the refusal's message (besides the file's name, always checked)
    suffix: str = ".csv"
    build: object = None


def _sheet(with_blank_rows: bool):
    def build(tmp: Path) -> bytes:
        rows = [COLUMNS] + [[r[c] if c not in ("amount", "tax_amount") else float(r[c]) for c in COLUMNS] for r in BASE]
        if with_blank_rows:
            rows = rows[:5] + [[None] * len(COLUMNS)] + rows[5:] + [[None] * len(COLUMNS)] * 3
        return _xlsx(rows, tmp / "sheet.xlsx")

    return build


CORPUS = [
    Variant("plain LF", TEXT.encode()),
    Variant("CRLF", TEXT.replace("\n", "\r\n").encode()),
    Variant("CR only (classic Mac)", TEXT.replace("\n", "\r").encode()),
    Variant(
        "mixed newlines",
        "".join(line.replace("\n", ["\n", "\r\n", "\r"][i % 3]) for i, line in enumerate(LINES)).encode(),
    ),
    Variant("stray carriage returns", TEXT.replace("\n", "\r\r\n").encode()),
    Variant(
        "blank lines between records",
        "".join(line + ("\n" if i % 5 == 4 else "") for i, line in enumerate(LINES)).encode(),
        blank=4,
    ),
    Variant("blank lines at the end", (TEXT + "\n\n\r\n").encode()),
    Variant("blank line before the header", ("\n" + TEXT).encode(), blank=1),
    Variant(
        "whitespace-only lines",
        "".join(line + ("   \t\n" if i == 7 else "") for i, line in enumerate(LINES)).encode(),
        blank=1,
    ),
    Variant("rows of empty fields", (TEXT + ",,,,,,,,\n" + ",,,,,,,,\n").encode()),
    Variant(
        "rows of empty fields inside",
        "".join(line + (",,,,,,,,\n" if i == 3 else "") for i, line in enumerate(LINES)).encode(),
        blank=1,
    ),
    Variant("UTF-8 BOM", ("\ufeff" + TEXT).encode()),
    Variant("UTF-16 with BOM", TEXT.encode("utf-16")),
    Variant(
        "GBK, with a Chinese column", _csv([r | {"备注": "华东区客户"} for r in BASE], [*COLUMNS, "备注"]).encode("gbk")
    ),
    Variant("padded values", _csv([{k: f"  {v} " for k, v in r.items()} for r in BASE]).encode()),
    Variant("padded header", TEXT.replace("invoice_id,opportunity_id", " invoice_id ,\topportunity_id", 1).encode()),
    Variant("tab-padded values", _csv([{k: f"\t{v}" for k, v in r.items()} for r in BASE]).encode()),
    Variant("reordered columns", _csv(BASE, COLUMNS[::-1]).encode()),
    Variant("an extra column", _csv([r | {"memo": "x"} for r in BASE], [*COLUMNS, "memo"]).encode()),
    Variant("every field quoted", _csv(BASE, quoting=csv.QUOTE_ALL).encode()),
    Variant(
        "a quoted memo spanning lines, then a bad row",
        _csv(
            [
                r | {"memo": "line one\nline two"} if i == 2 else r | ({"amount": "-1.00"} if i == 5 else {})
                for i, r in enumerate(BASE)
            ],
            [*COLUMNS, "memo"],
        ).encode(),
        loaded=ROWS - 1,
        rejected={"negative_amount": 1},
        lines={"negative_amount": 8},  # row 6 starts on line 8: row 3's memo takes two lines
    ),
    Variant("timestamps with offsets", _csv([r | {"updated_at": "2026-03-02 08:00:00+08:00"} for r in BASE]).encode()),
    Variant("XLSX", None, build=_sheet(False), suffix=".xlsx"),
    Variant("XLSX with empty rows", None, build=_sheet(True), suffix=".xlsx", blank=1, lines={}),
    Variant("header only (a quiet day)", _csv([]).encode(), loaded=0),
    Variant("empty marker (a quiet day)", b"", loaded=0, suffix=".empty"),
    Variant("0 bytes", b"", refused="0 bytes"),
    Variant("only blank lines", b"\n\r\n\n", refused="no header row"),
    Variant(
        "unclosed quote",
        (TEXT[: TEXT.index("INV0005")] + '"INV0005' + TEXT[TEXT.index("INV0005") + 7 :]).encode(),
        refused="line 6: a quoted field opened on this line is never closed",
    ),
    Variant(
        "a column missing", _csv(BASE, COLUMNS[:-1]).encode(), refused="header lacks expected column(s) updated_at"
    ),
    Variant("semicolon-separated", TEXT.replace(",", ";").encode(), refused="header lacks expected column(s)"),
    Variant("not text at all", bytes(range(256)) * 8, refused="finance.invoices"),
    Variant(
        "a NUL byte",
        _bad(4, opportunity_id="O2\x00").encode(),
        loaded=ROWS - 1,
        rejected={"nul_byte": 1},
        lines={"nul_byte": 4},
    ),
    Variant(
        "a 40-digit amount",
        _bad(5, amount="1" * 40).encode(),
        loaded=ROWS - 1,
        rejected={"out_of_range": 1},
        lines={"out_of_range": 5},
    ),
    Variant(
        "three decimals",
        _bad(6, amount="12.345").encode(),
        loaded=ROWS - 1,
        rejected={"out_of_range": 1},
        lines={"out_of_range": 6},
    ),
    Variant(
        "a date in 2099",
        _bad(7, invoice_date="2099-01-01").encode(),
        loaded=ROWS - 1,
        rejected={"out_of_range": 1},
        lines={"out_of_range": 7},
    ),
    Variant(
        "a date in 1900",
        _bad(8, due_date="1900-01-01").encode(),
        loaded=ROWS - 1,
        rejected={"out_of_range": 1},
        lines={"out_of_range": 8},
    ),
    Variant(
        "month-first date",
        _bad(9, invoice_date="03/15/2024").encode(),
        loaded=ROWS - 1,
        rejected={"date_format": 1},
        lines={"date_format": 9},
    ),
    Variant(
        "slashed ISO date",
        _bad(10, invoice_date="2026/03/02").encode(),
        loaded=ROWS - 1,
        rejected={"date_format": 1},
        lines={"date_format": 10},
    ),
    Variant(
        "a date that does not exist",
        _bad(11, due_date="2026-02-30").encode(),
        loaded=ROWS - 1,
        rejected={"wrong_type": 1},
        lines={"wrong_type": 11},
    ),
    Variant(
        "a timestamp in words",
        _bad(12, updated_at="yesterday").encode(),
        loaded=ROWS - 1,
        rejected={"date_format": 1},
        lines={"date_format": 12},
    ),
    Variant(
        "thousands separator",
        _bad(13, amount="1,234.00").encode(),
        loaded=ROWS - 1,
        rejected={"wrong_type": 1},
        lines={"wrong_type": 13},
    ),
    Variant(
        "negative amount",
        _bad(14, tax_amount="-3.00").encode(),
        loaded=ROWS - 1,
        rejected={"negative_amount": 1},
        lines={"negative_amount": 14},
    ),
    Variant(
        "unknown currency",
        _bad(15, currency="RMB").encode(),
        loaded=ROWS - 1,
        rejected={"unknown_currency": 1},
        lines={"unknown_currency": 15},
    ),
    Variant(
        "missing key",
        _bad(16, invoice_id="").encode(),
        loaded=ROWS - 1,
        rejected={"missing_key": 1},
        lines={"missing_key": 16},
    ),
    Variant(
        "duplicate key",
        _bad(17, invoice_id="INV0001").encode(),
        loaded=ROWS - 1,
        rejected={"duplicate_key": 1},
        lines={"duplicate_key": 17},
    ),
    Variant(
        "too few fields",
        (TEXT + "INV9999,O1,A1\n").encode(),
        loaded=ROWS,
        rejected={"malformed": 1},
        lines={"malformed": ROWS + 2},
    ),
    Variant(
        "an orphan",
        _bad(18, account_id="A404").encode(),
        loaded=ROWS - 1,
        rejected={"orphan_reference": 1},
        lines={"orphan_reference": 18},
    ),
]


@pytest.fixture
def landing(fresh_db, tmp_path, monkeypatch):
    """A warehouse whose CRM has the invoices' parents for DAY, and the folders of a fresh project."""
    from salesdw import paths

    for name in ("DROP_DIR", "LANDING_DIR", "ARCHIVE_DIR"):
        monkeypatch.setattr(paths, name, tmp_path / name.lower())
    parents = {
        "reps": [{"rep_id": "R1", "updated_at": "2026-01-01T00:00:00Z"}],
        "accounts": [
            {"account_id": f"A{i}", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
            for i in (1, 2, 3)
        ],
        "opportunities": [
            {
                "opportunity_id": f"O{i}",
                "account_id": f"A{i}",
                "owner_rep_id": "R1",
                "product_line": "software",
                "stage": "proposal",
                "amount": "1.00",
                "currency": "CNY",
                "updated_at": "2026-01-01T00:00:00Z",
            }
            for i in (1, 2, 3)
        ],
    }
    with psycopg.connect(fresh_db) as conn:
        for name, records in parents.items():
            feed = tmp_path / f"{name}.jsonl"
            feed.write_text("".join(json.dumps(r) + "\n" for r in records))
            load_file(conn, config.entity("crm", name), feed, DAY)
    return fresh_db, tmp_path


def _deliver(tmp: Path, variant: Variant) -> Path:
    path = tmp / "delivered" / f"{variant.name.replace(' ', '_')}{variant.suffix}"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(variant.data if variant.data is not None else variant.build(tmp))
    return path


def _land(url, tmp: Path, name: str, data: bytes) -> dict:
    """Deliver `data` as the file `name` for DAY through salesdw land's own code (no gate: fast)."""
    delivered = _deliver(tmp, Variant(name, data))
    return tasks.land("finance", "invoices", DAY, url=url, delivered=delivered, gate=False)


def _day(url):
    with psycopg.connect(url) as conn:
        batch = conn.execute(
            "select batch_id, rows_read from audit.load_batches where source = 'finance' and entity = 'invoices'"
            " and batch_date = %s and status = 'loaded'",
            [DAY],
        ).fetchone()
        rows = conn.execute("select count(*) from raw.finance__invoices where _batch_date = %s", [DAY]).fetchone()[0]
    return batch, rows


@pytest.mark.parametrize("variant", CORPUS, ids=[v.name for v in CORPUS])
def test_every_kind_of_file_gets_exactly_its_treatment(landing, variant):
    url, tmp = landing
    # the day already holds a batch (an earlier delivery): a refused file must leave it as it is
    _land(url, tmp, "earlier", _csv(BASE[:3]).encode())
    before = _day(url)
    delivered = _deliver(tmp, variant)
    report = tasks.land("finance", "invoices", DAY, url=url, delivered=delivered, gate=False)
    if variant.refused:
        assert report["status"] == "refused", report
        assert str(delivered) in report["error"] and variant.refused in report["error"], report["error"]
        assert _day(url) == before  # the previous batch untouched
        return
    assert report["status"] == "loaded", report
    rejected = sum(variant.rejected.values())
    assert (report["rows_read"], report["rows_loaded"], report["rows_rejected"]) == (
        variant.loaded + rejected,
        variant.loaded,
        rejected,
    )
    assert report["rejected_by_reason"] == variant.rejected
    assert report["blank_lines"] == variant.blank
    with psycopg.connect(url) as conn:
        raw_rows = conn.execute("select count(*) from raw.finance__invoices where _batch_date = %s", [DAY]).fetchone()[
            0
        ]
        rejects = conn.execute(
            "select rule, origin, reason from raw._rejected where _batch_id = %s order by origin", [report["batch_id"]]
        ).fetchall()
        amounts = conn.execute(
            "select sum(amount::numeric) from raw.finance__invoices where _batch_date = %s", [DAY]
        ).fetchone()[0]
    assert raw_rows == variant.loaded
    for rule, origin, reason in rejects:  # each names the delivered file, its line and the column
        assert origin.startswith(str(delivered) + ":"), origin
        if rule in variant.lines:
            assert origin == f"{delivered}:{variant.lines[rule]}", (origin, reason)
    if variant.loaded == ROWS:  # every value came through intact (padding gone, cents kept)
        assert amounts == sum(Decimal(r["amount"]) for r in BASE)


def test_messages_name_the_column_the_value_and_what_was_expected(landing):
    url, tmp = landing
    text = _bad(9, invoice_date="03/15/2024")
    report = _land(url, tmp, "dates", text.encode())
    with psycopg.connect(url) as conn:
        (reason,) = conn.execute(
            "select reason from raw._rejected where _batch_id = %s", [report["batch_id"]]
        ).fetchone()
    assert (
        reason
        == "invoice_date: '03/15/2024' is not a date written as YYYY-MM-DD (the column's declared format, sources.yml)"
    )


def test_a_corrected_delivery_replaces_the_day_and_an_identical_one_changes_nothing(landing):
    url, tmp = landing
    partial = _land(url, tmp, "partial", _csv(BASE[:15]).encode())
    full = _land(url, tmp, "full", TEXT.encode())
    again = _land(url, tmp, "full again", TEXT.encode())
    assert (partial["rows_loaded"], full["rows_loaded"]) == (15, ROWS)
    assert full["note"] == f"delivery 2 for {DAY}, replacing delivery 1"
    assert again["status"] == "unchanged" and again["batch_id"] == full["batch_id"]
    assert "identical to delivery 2" in again["note"]
    assert _day(url)[1] == ROWS
    # a refused file, then the corrected one: the refusal does not block it
    refused = _land(url, tmp, "nul", b"")
    fixed = _land(url, tmp, "fixed", _csv(BASE[:10]).encode())
    assert refused["status"] == "refused" and fixed["rows_loaded"] == 10
    with psycopg.connect(url) as conn:
        log = conn.execute(
            "select delivery, file_name, outcome, archived_to from audit.extracted_files"
            " where entity = 'invoices' and batch_date = %s order by delivery",
            [DAY],
        ).fetchall()
    assert [(n, f, o) for n, f, o, _ in log] == [
        (1, "partial.csv", "superseded"),
        (2, "full.csv", "superseded"),
        (3, "full_again.csv", "unchanged"),
        (4, "nul.csv", "refused"),
        (5, "fixed.csv", "loaded"),
    ]
    assert len({a for *_, a in log}) == 5 and all(Path(a).is_file() for *_, a in log)  # each archived, none overwritten


def test_salesdw_land_json(landing):
    """The command itself, as an operator (or a corpus runner) calls it: one JSON object, exit codes."""
    url, tmp = landing
    env = {**_env(tmp), "WAREHOUSE_URL": url}
    good = _deliver(tmp, Variant("good", _bad(3, amount="-2.00").encode()))
    proc = _cli(["finance", "invoices", "--date", DAY.isoformat(), "--file", str(good), "--json"], env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {
        k: report[k] for k in ("status", "rows_read", "rows_loaded", "rows_rejected", "rejected_by_reason", "error")
    } == {
        "status": "loaded",
        "rows_read": ROWS,
        "rows_loaded": ROWS - 1,
        "rows_rejected": 1,
        "rejected_by_reason": {"negative_amount": 1},
        "error": None,
    }
    assert report["gate"]["status"] == "passed"  # 1 of 20 rejected is 5.0%: at, not over, the threshold
    refused = _deliver(tmp, Variant("refused", b""))
    proc = _cli(["finance", "invoices", "--date", DAY.isoformat(), "--file", str(refused), "--json"], env)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["status"] == "refused" and str(refused) in report["error"]
    proc = _cli(["finance", "invoices", "--date", DAY.isoformat(), "--file", str(good)], env)  # text, unchanged
    assert proc.returncode == 0 and "unchanged" in proc.stdout and "identical to delivery 1" in proc.stdout


def _env(tmp: Path) -> dict:
    import os

    # the session's state dir (its role passwords); a data dir of the test's own
    return dict(os.environ, SALESDW_DATA_DIR=str(tmp / "data"))


def _cli(args, env):
    return subprocess.run(
        [sys.executable, "-m", "salesdw.cli", "land", *args], env=env, capture_output=True, text=True, timeout=600
    )
