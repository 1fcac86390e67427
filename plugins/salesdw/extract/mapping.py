"""A delivered export, or an API's record, in the contract's shape: the column and value mappings.

A deployment maps each contract column from the export's own header (`columns`: contract column ->
header, `~` for one the export does not have, which stays empty), fills others with `constants`
("{day}" is the batch day, e.g. a snapshot's updated_at), translates values (`values`: column ->
{export value: ours}, e.g. a stage or a misspelt product) and writes numbers given in another
`number_format` (1.234,56 or 1,234.56) as the contract's 1234.56. The landed file is rewritten once, here,
so the loader, the gates and a rerun of the day read the contract's columns; the record on each line
stays on that line (a quoted field spanning lines is written back spanning as many), so the lines
the loader reports are the delivered file's. A record with the wrong number of fields is written
back as delivered, for the loader to reject as malformed.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

from salesdw.config import Entity
from salesdw.errors import RefusedDeliveryError
from salesdw.extract.transcode import to_csv
from salesdw.load.readers import PADDING, Lines, unclosed_quote


class MappingError(RefusedDeliveryError):
    """The export lacks a column the deployment maps from."""


def remap(entity: Entity, src: Path, dst: Path, day: date, origin: str) -> None:
    """Write `src` (the landed UTF-8 CSV) to `dst` with the contract's columns, in its order."""
    mapping, fixed, values = dict(entity.mapping), _constants(entity, day), _translations(entity)
    with src.open(encoding="utf-8", newline="") as inp, dst.open("w", encoding="utf-8", newline="") as out:
        lines = Lines(inp)
        reader, writer = csv.reader(lines), csv.writer(out, lineterminator="\n")
        header = None
        for names in reader:
            if any(n.strip() for n in names):
                header = [n.strip(PADDING) for n in names] if entity.trim else names
                break
            out.write("\n")  # a blank line above the header keeps the lines below it where they were
        writer.writerow(entity.columns)
        if header is None:
            return
        sources = {c: mapping.get(c, c) for c in entity.columns if c not in fixed}
        missing = [f"{name!r} (for {c})" for c, name in sources.items() if name is not None and name not in header]
        if missing:
            raise MappingError(
                f"{entity.source}.{entity.name}: {origin} line {reader.line_num}: header lacks column(s) "
                f"{', '.join(missing)} that the deployment maps from; got {', '.join(header)}"
                " (map the column to its header in `columns`, or to ~ when the export does not have it)"
            )
        positions = {c: (None if name is None else header.index(name)) for c, name in sources.items()}
        line = reader.line_num + 1
        try:
            for fields in reader:
                if not any(f.strip(PADDING) for f in fields):
                    out.write("\n" * (reader.line_num - line + 1))
                elif len(fields) != len(header):
                    # as delivered; padded when its count happens to be the contract's, so it stays malformed
                    writer.writerow(fields + ([""] if len(fields) == len(entity.columns) else []))
                else:
                    writer.writerow([_value(c, fields, positions, fixed, values, entity.trim) for c in entity.columns])
                line = reader.line_num + 1
        except csv.Error as exc:
            raise unclosed_quote(entity, origin, line, str(exc)) from None
        if lines.opened is not None:
            raise unclosed_quote(
                entity, origin, lines.opened, f"the file ends inside it, {lines.line - lines.opened} lines on"
            )


def _constants(entity: Entity, day: date) -> dict[str, str]:
    """column -> its constant for the batch day ("{day}" is it)."""
    return {c: v.replace("{day}", day.isoformat()) for c, v in entity.constants}


def _translations(entity: Entity) -> dict:
    """column -> how its values are translated: a mapping of values, or a function for numbers."""
    found: dict = {c: dict(m) for c, m in entity.value_maps}
    if entity.number_format:
        mark, group = entity.number_format

        def number(value: str) -> str:
            return value.replace(group, "").replace(mark, ".") if group else value.replace(mark, ".")

        for column in entity.numeric_columns:
            found.setdefault(column, number)
    return found


def _translated(translate, value: str) -> str:
    return translate(value) if callable(translate) else translate.get(value, value)


def _value(column: str, fields: list[str], positions: dict, fixed: dict, values: dict, trim: bool) -> str:
    if column in fixed:
        return fixed[column]
    position = positions[column]
    if position is None:
        return ""
    value = fields[position].strip(PADDING) if trim else fields[position]
    return _translated(values[column], value) if column in values else value


def record_mapper(entity: Entity, day: date):
    """For an API's JSON records: a function giving a record's contract columns, each from the field
    path the profile and the deployment map it from (extract/vendors.py), constants and values as
    for files."""
    from salesdw.extract.vendors import field

    mapping, fixed, values = dict(entity.mapping), _constants(entity, day), _translations(entity)
    paths = {c: mapping.get(c, c) for c in entity.columns if c not in fixed}

    def mapped(record: dict) -> dict:
        out = dict(fixed)
        for column, path in paths.items():
            value = None if path is None else field(record, path)
            if isinstance(value, str) and column in values:
                value = _translated(values[column], value.strip(PADDING))
            out[column] = value
        return out

    return mapped


def remap_jsonl(entity: Entity, src: Path, dst: Path, day: date) -> None:
    """JSON lines: each record through the mapping, on its own line; a line that is not a JSON object
    is written back as delivered, for the loader to reject with its line number."""
    mapped = record_mapper(entity, day)
    with src.open(encoding="utf-8") as inp, dst.open("w", encoding="utf-8") as out:
        for line in inp:
            text = line.rstrip("\n")
            try:
                record = json.loads(text, parse_float=str) if text.strip() else None
            except json.JSONDecodeError:
                record = None
            out.write((json.dumps(mapped(record), ensure_ascii=False) if isinstance(record, dict) else text) + "\n")


def reshape(entity: Entity, src: Path, dst: Path, day: date, origin: str) -> None:
    """The landed delivery `src` in the contract's shape at `dst`, whatever the entity's format."""
    if entity.format == "jsonl":
        remap_jsonl(entity, src, dst, day)
    else:
        remap(entity, src, dst, day, origin)


def to_contract_shape(entity: Entity, src: Path, dst: Path, day: date, origin: str) -> str:
    """The delivered `src` at `dst` as the loader reads it: one encoding and newline convention
    (transcode.to_csv), then the deployment's mappings. Returns the encoding it was read with."""
    encoding = to_csv(entity, src, dst)
    if entity.mapped:
        shaped = dst.with_name(dst.name + ".mapped")
        try:
            reshape(entity, dst, shaped, day, origin)
            shaped.replace(dst)
        finally:
            shaped.unlink(missing_ok=True)
    return encoding
