"""Excel for managers: the published marts as one workbook, a sheet per mart (`salesdw export --xlsx`).

It reads schema `marts` as the BI login, so the workbook holds what a BI tool sees (person data
masked for readers outside salesdw_pii), and writes with openpyxl's write-only workbook, rows streamed
from a server-side cursor: memory stays flat whatever the marts' size.

- Each mart's sheet: one header row, frozen, from the columns' descriptions (the comments dbt
  persists and publication keeps on the views): the description's first clause is the header, and
  the header cell's note holds the column's name and its whole description. Numbers are numbers,
  dates dates, timestamps date-times in UTC (Excel has no time zones); a column's dbt `meta: {format:}`
  formats it: `reporting_currency` (amounts in the reporting currency, with its code), `amount` (in a
  source currency, named by the row's `currency` column) and `percent` (rates, 0.877 shown 87.7%).
- A first sheet, "About": when the workbook was made, and each mart's sheet, rows and description.

A mart over Excel's 1,048,576 rows a sheet is refused, by name: BI tools read it from `marts`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from salesdw.manifest import column_meta, marts, nodes
from salesdw.publish.publications import PUBLISHED_SCHEMA

MAX_ROWS = 1_048_575  # Excel's rows a sheet, less the header
HEADER_CHARS = 60
NUMBER_FORMATS = {
    "amount": "#,##0.00",
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
    "timestamp": "yyyy-mm-dd hh:mm:ss",
}

PUBLISHED_VIEWS = """
select viewname, obj_description(format('%%I.%%I', schemaname, viewname)::regclass, 'pg_class')
from pg_views where schemaname = %s
"""
COLUMNS = """
select a.attname, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum)
from pg_attribute a
where a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass and a.attnum > 0 and not a.attisdropped
order by a.attnum
"""


class ExportError(RuntimeError):
    """The workbook could not be made as asked (an unknown mart, one too big for a sheet)."""


def export_xlsx(url: str, path: Path, marts: list[str] | None = None, *, reporting_currency: str) -> dict[str, int]:
    """Write the published marts (all, or `marts` in that order) at `url` (the BI login's) to `path`;
    returns each mart's rows."""
    from openpyxl import Workbook

    formats = column_formats(reporting_currency)
    workbook = Workbook(write_only=True)
    about = workbook.create_sheet("About")
    written: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        described = dict(conn.execute(PUBLISHED_VIEWS, [PUBLISHED_SCHEMA]).fetchall())
        unknown = [m for m in marts or [] if m not in described]
        if unknown:
            raise ExportError(
                f"no published mart {', '.join(map(repr, unknown))} in schema {PUBLISHED_SCHEMA};"
                f" there are: {', '.join(sorted(described))}"
            )
        for mart in marts or sorted(described):
            columns = conn.execute(COLUMNS, [PUBLISHED_SCHEMA, mart]).fetchall()
            sheet = workbook.create_sheet(mart[:31])
            written[mart] = _write_mart(conn, sheet, mart, columns, formats.get(mart, {}))
    _write_about(about, written, described)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return written


def column_formats(reporting_currency: str) -> dict[str, dict[str, str]]:
    """Each mart's columns' Excel number formats, from their dbt `meta: {format:}` (dbt's manifest)."""
    formats = dict(NUMBER_FORMATS, reporting_currency=f'#,##0.00 "{reporting_currency}"')
    found: dict[str, dict[str, str]] = {}
    models = nodes("model")
    for node in (models[mart] for mart in marts()):
        for column in node["columns"].values():
            kind = column_meta(column).get("format")
            if kind and kind not in formats:
                raise ExportError(
                    f"{node['original_file_path']}: column {column['name']} has meta format {kind!r};"
                    f" expected one of {', '.join(sorted(formats))}"
                )
            if kind:
                found.setdefault(node["name"], {})[column["name"]] = formats[kind]
    return found


def header_of(column: str, description: str | None) -> str:
    """A description's first clause, as a header ("Deal amount as in the source, in currency." ->
    "Deal amount as in the source"; a parenthesis is kept whole); the column's name when it has none."""
    text, depth = (description or "").strip(), 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        ends = char in ".;:," and (i + 1 == len(text) or text[i + 1].isspace())
        if depth <= 0 and (ends or char == "\n"):
            text = text[:i]
            break
    text = text.strip()
    if len(text) > HEADER_CHARS:  # asides go first, then words
        text = re.sub(r"\s*\([^()]*\)", "", text)
    if len(text) > HEADER_CHARS:
        text = text[: HEADER_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return text or column


def _write_mart(conn: psycopg.Connection, sheet, mart: str, columns: list, formats: dict[str, str]) -> int:
    from openpyxl.comments import Comment
    from openpyxl.utils import get_column_letter

    headers, seen = [], set()
    for name, _, description in columns:
        header = header_of(name, description)
        if header in seen:  # two descriptions opening alike: the column's name tells them apart
            header = f"{header} ({name})"
        seen.add(header)
        cell = _bold(sheet, header)
        cell.comment = Comment(f"{name}: {description or ''}".strip(), "salesdw", width=400, height=160)
        headers.append(cell)
    number_formats = [formats.get(name) or _type_format(kind) for name, kind, _ in columns]
    for number, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = min(max(len(header.value) + 2, 12), HEADER_CHARS)
    sheet.freeze_panes = "A2"
    sheet.append(headers)
    rows = 0
    query = sql.SQL("select * from {}").format(sql.Identifier(PUBLISHED_SCHEMA, mart))
    with conn.cursor(name=f"export_{mart}") as cursor:  # server-side: rows come in batches
        cursor.itersize = 5000
        cursor.execute(query)
        for record in cursor:
            rows += 1
            if rows > MAX_ROWS:
                raise ExportError(
                    f"{PUBLISHED_SCHEMA}.{mart} has more than {MAX_ROWS:,} rows, more than an Excel sheet holds:"
                    " leave it out (--mart the others) and read it from a BI tool"
                )
            sheet.append([_cell(sheet, value, fmt) for value, fmt in zip(record, number_formats, strict=True)])
    return rows


def _cell(sheet, value, number_format: str | None):
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if number_format is None or value is None:
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = number_format
    return cell


def _type_format(kind: str) -> str | None:
    if kind == "date":
        return NUMBER_FORMATS["date"]
    if kind.startswith("timestamp"):
        return NUMBER_FORMATS["timestamp"]
    return None


def _write_about(sheet, written: dict[str, int], described: dict[str, str | None]) -> None:
    sheet.column_dimensions["A"].width = 32
    sheet.column_dimensions["C"].width = 120
    made = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    sheet.append([_bold(sheet, f"salesdw: the published marts (schema {PUBLISHED_SCHEMA}), exported {made}")])
    sheet.append([])
    sheet.append([_bold(sheet, "sheet"), _bold(sheet, "rows"), _bold(sheet, "what it holds")])
    for mart, rows in written.items():
        sheet.append([mart[:31], rows, (described.get(mart) or "").strip()])


def _bold(sheet, text: str):
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cell = WriteOnlyCell(sheet, value=text)
    cell.font = Font(bold=True)
    return cell
