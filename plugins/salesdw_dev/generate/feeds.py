"""Write a simulated world as the daily feeds each source system would deliver.

`<landing>/<source>/<YYYY-MM-DD>/<entity>.<jsonl|csv>`: the CRM and service-desk feeds are the
records their REST APIs return (one JSON object a line), finance is an ERP's CSV export. The first
day's feed is the initial full extract (everything changed up to that day); each later day holds
what changed that day. A file is written for every entity and day, empty or not. A later generate
into the same data dir extends the world there and writes only its new days (generate/anchor.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from salesdw import config, paths

from salesdw_dev.generate import anchor, breaks
from salesdw_dev.generate.dirty import Planter
from salesdw_dev.generate.world import Simulation, Version


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)  # APIs send numbers; repr keeps the cents exact for these sizes
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _by_day(records: list[list[Version]], start: date, days: int) -> list[list[dict]]:
    """Each record's latest version per feed day (day 0 also takes everything before it).

    Versions past the last day are not delivered yet; a deletion is not in a file export.
    """
    buckets: list[list[dict]] = [[] for _ in range(days)]
    for versions in records:
        latest: dict[int, dict | None] = {}
        for ts, fields in versions:
            day = max(0, (ts.date() - start).days)
            if day < days:
                latest[day] = fields
        for day, fields in latest.items():
            if fields is not None:
                buckets[day].append(fields)
    return buckets


def write_source_state(world, root: Path) -> None:
    """What each API source system holds at the end of the last day, for `salesdw serve-sources`.

    `<root>/<source>/<entity>.jsonl`: every version, in the order it became visible, as
    `{"visible_at": ..., "op": "upsert" | "delete", "record": {...}}` (a delete's record holds
    only the primary key).
    """
    for entity in config.entities():
        if entity.delivery != "api":
            continue
        events = []
        for versions in world.records.get(entity.name, []):
            key = next(f for _, f in versions if f is not None)[entity.primary_key]
            for ts, fields in versions:
                if ts < world.end:
                    record = {c: fields.get(c) for c in entity.columns} if fields else {entity.primary_key: key}
                    events.append((ts, key, "upsert" if fields else "delete", record))
        events.sort(key=lambda e: (e[0], e[1]))
        folder = root / entity.source
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{entity.name}.jsonl.part"
        with tmp.open("w", encoding="utf-8") as out:
            for ts, _, op, record in events:
                out.write(
                    json.dumps(
                        {"visible_at": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "op": op, "record": record},
                        ensure_ascii=False,
                        default=_json_default,
                    )
                    + "\n"
                )
        shutil.move(tmp, folder / f"{entity.name}.jsonl")


def _write_csv(path: Path, columns, rows, encoding: str) -> None:
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            if "__raw__" in row:  # a malformed line, written as the broken exporter wrote it
                out.write(row["__raw__"] + "\r\n")
            else:
                writer.writerow([_csv_value(row.get(c)) for c in columns])


def _write_xlsx(path: Path, columns, rows) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("export")
    sheet.append(list(columns))
    for row in rows:  # amounts as numbers, the rest as text, as an ERP export has them
        if "__raw__" in row:
            sheet.append(row["__raw__"].split(",")[:3])
        else:
            sheet.append([float(v) if isinstance(v, Decimal) else _csv_value(v) for v in (row.get(c) for c in columns)])
    book.save(path)


def _write_feed(path: Path, entity, rows, *, encoding: str = "utf-8", excel: bool = False) -> None:
    """Write one feed file whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    if excel:
        _write_xlsx(tmp, entity.columns, rows)
    elif entity.format == "csv":
        _write_csv(tmp, entity.columns, rows, encoding)
    else:
        with tmp.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(
                    json.dumps({c: row.get(c) for c in entity.columns}, ensure_ascii=False, default=_json_default)
                    + "\n"
                )
    shutil.move(tmp, path)


# How the ERP delivers each file entity: payments come as Excel workbooks, the rest as CSV.
EXCEL_ENTITIES = {"payments"}


def generate(
    *,
    start: date,
    days: int,
    scale: float = 1.0,
    history_days: int | None = None,
    locale: str = "en_US",
    seed: int = 42,
    data_dir: Path | None = None,
    landing_files: bool = False,
    dirty: float = 0.0,
    break_kind: str | None = None,
) -> dict[str, int]:
    """Simulate the sources and write what each delivers; returns rows written per raw table.

    - API sources (CRM, service desk): their state in `<data>/sources`, for `salesdw serve-sources`;
    - file sources (the ERP): one export per entity and day in `<data>/drop/<source>/`
      (`<entity>_<YYYYMMDD>.csv`, GBK-encoded for zh_CN, or `.xlsx`);
    - with `landing_files`, also every feed as already extracted, in `<data>/landing` (offline use);
    - with `dirty`, that share of records spoiled, counted in `<data>/planted.json`;
    - with `break_kind`, the last day's feed of one entity broken (generate/breaks.py), noted in
      `<data>/planted.json` under "break".

    The world is recorded in `<data>/world.json` (generate/anchor.py). A later call into the same
    data dir with the same scale, seed, locale and dirty rate and a `start` after the world's first
    day extends that world: the recorded origin and history start win (`history_days` is then only
    compared), the source state runs through the new last day, only the days from `start` on are
    written, and planted.json counts every day of the world (a break of a day not rewritten stays).
    Anything else (no world.json, another draw, a `start` on or before the origin) is a new world.
    """
    data_dir = data_dir or paths.DATA_DIR
    draw = anchor.draw_of(scale=scale, seed=seed, locale=locale, dirty=dirty, currencies=config.currencies())
    request = _request(draw, start, days, history_days, landing_files, break_kind)
    stamp = data_dir / GENERATED
    if stamp.is_file() and (done := json.loads(stamp.read_text()))["request"] == request:
        # the same call wrote these feeds already (it is deterministic): a second `make demo` need not wait
        # (an ERP export the extractor archived stays archived: a rerun of its day reuses the landed file)
        print(f"the feeds under {data_dir} were written by the same generate (same code and parameters): kept")
        return done["counts"]
    stamp.unlink(missing_ok=True)
    plan = anchor.plan(data_dir, start=start, days=days, history_days=history_days, draw=draw)
    for note in plan.notes:
        print(note)
    world = Simulation(
        scale=scale,
        start=plan.origin,
        days=plan.days,
        history_days=plan.history_days,
        locale=locale,
        seed=seed,
        currencies=config.currencies(),
    ).run()
    planter = Planter(dirty, seed + 2)
    for entity in config.entities():
        for versions in world.records.get(entity.name, []):
            versions[:] = [(ts, planter.spoil_fields(entity, fields)) for ts, fields in versions]
    last_day = start + timedelta(days=days - 1)
    new_break = [(break_kind, last_day)] if break_kind else []
    # in day order, as they were planted: a break's re-delivered rows may come from an earlier one's
    all_breaks = sorted(plan.kept_breaks + new_break, key=lambda b: b[1])
    broken = {
        (kind, day): breaks.break_versions(kind, world.records.get(breaks.BREAKS[kind][1], []), day, plan.origin)
        for kind, day in all_breaks
    }
    feeds: dict[str, list[list[dict]]] = {}
    for entity in config.entities():
        buckets = _by_day(world.records.get(entity.name, []), plan.origin, plan.days)
        if entity.delivery == "files":
            buckets = [
                planter.spoil_file_rows(entity, rows, plan.origin + timedelta(days=i)) for i, rows in enumerate(buckets)
            ]
            for kind, day in all_breaks:
                if breaks.BREAKS[kind] == (entity.source, entity.name):
                    i = (day - plan.origin).days
                    earlier = [row for bucket in buckets[:i] for row in bucket if "__raw__" not in row]
                    buckets[i], broken[(kind, day)] = breaks.break_rows(kind, buckets[i], earlier)
        for rows in buckets:
            planter.count(entity, rows)
        feeds[entity.name] = buckets
    # raises before anything is written
    messages = {(kind, day): breaks.check(kind, day, n) for (kind, day), n in broken.items()}

    write_source_state(world, data_dir / "sources")
    encoding = "gbk" if locale == "zh_CN" else "utf-8"
    written = range((start - plan.origin).days, (last_day - plan.origin).days + 1)
    counts: dict[str, int] = {}
    for entity in config.entities():
        buckets = feeds[entity.name]
        counts[entity.raw_table] = sum(len(buckets[offset]) for offset in written)
        for offset in written:
            rows, day = buckets[offset], plan.origin + timedelta(days=offset)
            if entity.delivery == "files":
                excel = entity.name in EXCEL_ENTITIES
                name = f"{entity.name}_{day:%Y%m%d}.{'xlsx' if excel else 'csv'}"
                _write_feed(data_dir / "drop" / entity.source / name, entity, rows, encoding=encoding, excel=excel)
            if landing_files:
                _write_feed(data_dir / "landing" / entity.source / day.isoformat() / entity.file_name, entity, rows)
    planted: dict = {t: dict(c) for t, c in planter.planted.items()}
    if all_breaks:  # this generate's break, else the latest one still delivered
        kind, day = (new_break or all_breaks)[-1]
        planted["break"] = {
            "kind": kind,
            "day": day.isoformat(),
            "records": broken[(kind, day)],
            "message": messages[(kind, day)],
        }
    (data_dir / "planted.json").write_text(json.dumps(planted, indent=2))
    anchor.save(data_dir, plan, draw, all_breaks)
    stamp.write_text(json.dumps({"request": request, "counts": counts}, indent=2))
    return counts


GENERATED = "generated.json"  # what the last generate into a data dir was asked, and wrote


def _request(draw: dict, start: date, days: int, history_days, landing_files: bool, break_kind) -> dict:
    """Everything a generate's output depends on: its arguments, the deployment's feeds and the
    simulator's own code (a change to it may change every row)."""
    code = hashlib.sha256()
    for path in sorted(Path(__file__).parents[1].rglob("*.py")):
        code.update(path.read_bytes())
    return {
        "draw": draw,
        "start": start.isoformat(),
        "days": days,
        "history_days": history_days,
        "landing_files": landing_files,
        "break": break_kind,
        "feeds": [entity.raw_table for entity in config.entities()],
        "code": code.hexdigest(),
    }
