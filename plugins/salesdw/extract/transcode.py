"""A delivered export as the loader reads it: UTF-8 CSV, one newline convention, no blank tail.

What real ERP exports vary in, and is harmless, is settled here once, line numbers kept:
- encodings: UTF-8 (with or without a BOM), UTF-16 with a BOM, else GBK/GB18030 (Chinese ERPs);
- newlines: LF, CRLF, CR and mixtures, and stray carriage returns (`\\r\\r\\n`), all become one LF;
  the line numbers the loader reports count those line breaks, so they are the delivered file's;
- rows of empty fields (`,,,,`, which spreadsheets leave behind) become empty lines, and empty
  lines at the end are dropped (the loader skips the others and counts them);
- XLSX: the first sheet, one CSV line per sheet row (an empty row an empty line), numbers as the
  workbook holds them;
- JSON lines (an entity with format jsonl): encodings and newlines as above; 0 bytes is a day
  without records (there is no header to send).
What is not harmless is refused, naming the file: a 0-byte delivery (a quiet day is a header-only
file, or an empty marker `<entity>_<YYYYMMDD>.empty`), a file with no header row, text in no
known encoding, an unreadable workbook.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from salesdw.config import Entity
from salesdw.errors import RefusedDeliveryError

CHUNK = 1 << 20
EMPTY_MARKER = ".empty"
NEWLINE = re.compile(r"\r*\n|\r")
EMPTY_ROW = re.compile(r"(?m)^[ \t,]+$")


class DropFolderError(RefusedDeliveryError):
    """A delivered file the extractor must not guess about."""


def _refuse(entity: Entity, src: Path, what: str) -> DropFolderError:
    return DropFolderError(f"{entity.source}.{entity.name}: {src}: {what}")


def to_csv(entity: Entity, src: Path, dst: Path) -> str:
    """Write the delivered `src` to `dst` as the loader reads it; returns the encoding it was read with."""
    suffix = src.suffix.lower()
    if entity.format == "jsonl":  # JSON lines: one encoding and newline convention, no header
        if suffix not in (".jsonl", EMPTY_MARKER):
            raise _refuse(entity, src, "is not JSON lines (.jsonl), which this entity is configured to arrive as")
        if suffix == EMPTY_MARKER or src.stat().st_size == 0:  # no records that day
            dst.write_text("", encoding="utf-8")
            return "marker" if suffix == EMPTY_MARKER else "utf-8"
        return _text_to_csv(entity, src, dst)
    if suffix == ".jsonl":
        raise _refuse(
            entity, src, "is JSON lines, but this entity is configured as CSV/XLSX (format: jsonl to take it)"
        )
    if suffix == EMPTY_MARKER:  # the source says: no records that day
        dst.write_text(",".join(entity.columns) + "\n", encoding="utf-8")
        return "marker"
    if src.stat().st_size == 0:
        raise _refuse(
            entity,
            src,
            "the delivery is empty (0 bytes), where an export was expected; a day without records is a file with"
            f" just the header row, or an empty marker {entity.name}_YYYYMMDD{EMPTY_MARKER} (see the README)",
        )
    encoding = _xlsx_to_csv(entity, src, dst) if suffix == ".xlsx" else _text_to_csv(entity, src, dst)
    with dst.open("rb") as landed:
        if not landed.read(1):
            raise _refuse(entity, src, "holds no header row, nor anything else but blank lines; expected a header row")
    return encoding


def _encodings(src: Path) -> tuple[str, ...]:
    with src.open("rb") as f:
        head = f.read(2)
    if head in (b"\xff\xfe", b"\xfe\xff"):
        return ("utf-16",)
    return ("utf-8-sig", "gb18030")


def _text_to_csv(entity: Entity, src: Path, dst: Path) -> str:
    for encoding in _encodings(src):
        try:
            with src.open(encoding=encoding, newline="") as inp, dst.open("w", encoding="utf-8", newline="") as out:
                out.writelines(_normalized(inp))
            return "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    raise _refuse(entity, src, "is neither UTF-8, UTF-16 nor GBK/GB18030 text; expected a CSV export")


def _normalized(inp: TextIO) -> Iterator[str]:
    """The text with every line break one LF, rows of empty fields empty, no empty lines at the end."""
    carry, held = "", 0  # the unfinished last line; empty lines not yet known to be followed by more
    while chunk := inp.read(CHUNK):
        text = carry + chunk
        # cut after the last line break, but never inside a run of CRs (the next chunk may end it with LF)
        end = len(text.rstrip("\r"))
        cut = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
        complete, carry = text[:cut], text[cut:]
        if complete:
            lines = EMPTY_ROW.sub("", NEWLINE.sub("\n", complete))
            body = lines.rstrip("\n")
            if body:
                yield "\n" * held + body + "\n"
                held = 0
            held += len(lines) - len(body) - (1 if body else 0)
    last = EMPTY_ROW.sub("", NEWLINE.sub("\n", carry))
    if last.strip("\n"):
        yield "\n" * held + last.rstrip("\n") + "\n"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_to_csv(entity: Entity, src: Path, dst: Path) -> str:
    from openpyxl import load_workbook

    try:
        book = load_workbook(src, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a broken file
        raise _refuse(entity, src, f"is not a readable XLSX workbook ({exc})") from exc
    try:
        sheet = book.worksheets[0]
        with dst.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            held = 0  # empty rows keep the rows after them on their sheet row number; trailing ones go
            for row in sheet.iter_rows(values_only=True):
                if row and any(v is not None and str(v).strip() for v in row):
                    out.write("\n" * held)
                    held = 0
                    writer.writerow([_cell(v) for v in row])
                else:
                    held += 1
    finally:
        book.close()
    return "xlsx"
