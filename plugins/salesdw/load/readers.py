"""Stream feed files record by record: values in the entity's column order, or a rejection.

Each reader yields `(origin, line, values, raw_text, reason)`: origin is the file as delivered (or
the `_origin` an API extractor stamped on the record: URL and page, and then line is None), line
the record's line in the file; values is a tuple of text (None for NULL) when the record parses,
otherwise None with the raw text and the reason `(rule, text)` it was rejected. A blank line (or a
row of empty fields) yields reason `Blank`: it is counted, not a record. Nothing is read into
memory beyond one record. A file that cannot be read as records at all (a header without the
expected columns, a quote never closed) raises FeedFormatError naming the file and the line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from salesdw.config import Entity
from salesdw.errors import RefusedDeliveryError
from salesdw.load.checks import MALFORMED, NUL_BYTE

Record = tuple[str, int | None, tuple[str | None, ...] | None, str | None, object]
Blank = object()  # the reason of a blank line
PADDING = " \t"


class FeedFormatError(RefusedDeliveryError):
    """A whole feed file is unusable (for example a CSV header without the expected columns)."""


def trimmed_header(names: list[str]) -> list[str]:
    return [name.strip(PADDING) for name in names]


def _text(value, trim: bool) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    # an empty string is no value, as an empty CSV field is: one rule for every format
    return (text.strip(PADDING) if trim and isinstance(value, str) else text) or None


def _nul(entity: Entity, columns, values) -> tuple[str, str] | None:
    """A NUL character cannot be stored in PostgreSQL text: the record waits in quarantine instead."""
    for column, value in zip(columns, values):
        if value and "\x00" in value:
            return NUL_BYTE, (
                f"{column}: holds a NUL byte (0x00) at character {value.index(chr(0)) + 1}; PostgreSQL text cannot"
                " store it (expected text without control character 0)"
            )
    return None


def _visible(text: str) -> str:
    return text.replace("\x00", "\\x00")


def read_jsonl(entity: Entity, path: Path, origin: str | None = None) -> Iterator[Record]:
    where = origin or str(path)
    with path.open(encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            text = line.rstrip("\n")
            if not text.strip():
                yield where, line_no, None, None, Blank
                continue
            try:
                # parse_float=str keeps the amount exactly as the source wrote it
                obj = json.loads(text, parse_float=str)
            except json.JSONDecodeError as exc:
                yield (
                    where,
                    line_no,
                    None,
                    _visible(text),
                    (MALFORMED, f"invalid JSON: {exc.msg} at column {exc.colno}"),
                )
                continue
            if not isinstance(obj, dict):
                yield (
                    where,
                    line_no,
                    None,
                    _visible(text),
                    (MALFORMED, f"expected a JSON object, got {type(obj).__name__}"),
                )
                continue
            values = tuple(_text(obj.get(c), entity.trim) for c in entity.columns)
            record_origin, record_line = (str(obj["_origin"]), None) if "_origin" in obj else (where, line_no)
            nul = _nul(entity, entity.columns, values)
            if nul:
                yield record_origin, record_line, None, _visible(text), nul
            else:
                yield record_origin, record_line, values, None, None


class Lines:
    """A text file's lines for csv.reader, noting where a double quote was left open.

    Quotes pair up in CSV (a quoted field's two, and "" for a quote inside it), so an odd count
    since `opened` means a quoted field that started on that line has not ended.
    """

    def __init__(self, handle) -> None:
        self.handle, self.line, self.opened = handle, 0, None

    def __iter__(self) -> Iterator[str]:
        for text in self.handle:
            self.line += 1
            if text.count('"') & 1:
                self.opened = None if self.opened else self.line
            yield text


def unclosed_quote(entity: Entity, where: str, line: int, detail: str) -> FeedFormatError:
    return FeedFormatError(
        f"{entity.source}.{entity.name}: {where} line {line}: a quoted field opened on this line is never closed"
        f" ({detail}); expected a closing double quote before the end of the record. Nothing of the file was"
        " loaded: correct the export and deliver it again"
    )


def read_csv(entity: Entity, path: Path, origin: str | None = None) -> Iterator[Record]:
    where = origin or str(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = Lines(handle)
        reader = csv.reader(lines)
        header = None
        for names in reader:
            if any(n.strip() for n in names):
                header = trimmed_header(names) if entity.trim else names
                break
            yield where, reader.line_num, None, None, Blank
        if header is None:
            return  # an empty export: no rows that day
        missing = [c for c in entity.columns if c not in header]
        if missing:
            raise FeedFormatError(
                f"{entity.source}.{entity.name}: {where} line {reader.line_num}: header lacks expected column(s) "
                f"{', '.join(missing)}; expected {', '.join(entity.columns)}, got {', '.join(header)}"
            )
        positions = [header.index(c) for c in entity.columns]
        line = reader.line_num + 1  # where the next record starts
        try:
            for fields in reader:
                if entity.trim:
                    fields = [f.strip(PADDING) for f in fields]
                if not any(f.strip(PADDING) for f in fields):
                    yield where, line, None, None, Blank
                elif len(fields) != len(header):
                    yield (
                        where,
                        line,
                        None,
                        _visible(",".join(fields)),
                        (
                            MALFORMED,
                            f"expected {len(header)} fields, got {len(fields)}",
                        ),
                    )
                else:
                    values = tuple(fields[i] if fields[i] != "" else None for i in positions)
                    nul = _nul(entity, entity.columns, values)
                    if nul:
                        yield where, line, None, _visible(",".join(fields)), nul
                    else:
                        yield where, line, values, None, None
                line = reader.line_num + 1
        except csv.Error as exc:  # a field past the size limit: a quote that swallowed the lines after it
            raise unclosed_quote(entity, where, line, f"{exc}") from None
        if lines.opened is not None:
            raise unclosed_quote(
                entity, where, lines.opened, f"the file ends inside it, {lines.line - lines.opened} lines on"
            )


READERS = {"jsonl": read_jsonl, "csv": read_csv}


def located(origin: str, line: int | None) -> str:
    """Where a record came from, as people read it: `file:line`, or the API's URL and page."""
    return origin if line is None else f"{origin}:{line}"
