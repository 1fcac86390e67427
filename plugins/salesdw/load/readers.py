"""Stream feed files record by record: values in the entity's column order, or a rejection.

Each reader yields `(origin, line, values, raw_text, reason)`: origin is the file (or the `_origin` an
API extractor stamped on the record: URL and page, and then line is None), line the record's line in
the file; values is a tuple of text (None for NULL) when the record parses, otherwise None with the
raw text and the reason it was rejected. Nothing is read into memory beyond one record.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from salesdw.config import Entity

Record = tuple[str, int | None, tuple[str | None, ...] | None, str | None, str | None]


class FeedFormatError(ValueError):
    """A whole feed file is unusable (for example a CSV header without the expected columns)."""


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def read_jsonl(entity: Entity, path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            text = line.rstrip("\n")
            if not text.strip():
                continue
            try:
                # parse_float=str keeps the amount exactly as the source wrote it
                obj = json.loads(text, parse_float=str)
            except json.JSONDecodeError as exc:
                yield str(path), line_no, None, text, f"invalid JSON: {exc.msg} at column {exc.colno}"
                continue
            if not isinstance(obj, dict):
                yield str(path), line_no, None, text, f"expected a JSON object, got {type(obj).__name__}"
                continue
            values = tuple(_text(obj.get(c)) for c in entity.columns)
            if "_origin" in obj:
                yield str(obj["_origin"]), None, values, None, None
            else:
                yield str(path), line_no, values, None, None


def read_csv(entity: Entity, path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return  # an empty export: no rows that day
        missing = [c for c in entity.columns if c not in header]
        if missing:
            raise FeedFormatError(
                f"{entity.source}.{entity.name}: {path} line 1: header lacks expected column(s) "
                f"{', '.join(missing)}; expected {', '.join(entity.columns)}, got {', '.join(header)}"
            )
        positions = [header.index(c) for c in entity.columns]
        origin = str(path)
        line = reader.line_num + 1  # where the next record starts
        for fields in reader:
            if len(fields) != len(header):
                raw = ",".join(fields)
                yield origin, line, None, raw, f"expected {len(header)} fields, got {len(fields)}"
            else:
                yield origin, line, tuple(fields[i] if fields[i] != "" else None for i in positions), None, None
            line = reader.line_num + 1


READERS = {"jsonl": read_jsonl, "csv": read_csv}


def located(origin: str, line: int | None) -> str:
    """Where a record came from, as people read it: `file:line`, or the API's URL and page."""
    return origin if line is None else f"{origin}:{line}"
