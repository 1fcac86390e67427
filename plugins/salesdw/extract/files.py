"""File-drop extractor: an ERP's daily exports picked up from a drop folder.

ERPs (Kingdee, Yonyou, SAP) write `<entity>_<YYYYMMDD>.csv` or `.xlsx` into a shared folder, CSVs
often in GBK. For a batch day the extractor finds the entity's export, detects the encoding (UTF-8,
else GB18030, the superset of GBK), streams it into the landing folder as UTF-8 CSV (XLSX sheets
row by row), registers the file by content hash in audit.extracted_files and moves it to the
archive. The same file delivered again is skipped unless forced; a rerun of a day whose export
was already extracted reuses the landed file.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from salesdw import paths
from salesdw.config import Entity
from salesdw.extract.landing import MissingFeedError

SUFFIXES = (".csv", ".xlsx")
CHUNK = 1 << 20

DDL = """
create schema if not exists audit;
create table if not exists audit.extracted_files (
    source       text        not null,
    entity       text        not null,
    batch_date   date        not null,
    file_name    text        not null,
    sha256       text        not null,
    bytes        bigint      not null,
    encoding     text        not null,
    archived_to  text        not null,
    extracted_at timestamptz not null default now(),
    primary key (source, entity, sha256)
);
"""


class DropFolderError(ValueError):
    """The drop folder holds something the extractor must not guess about."""


@dataclass
class FileExtractResult:
    entity: str
    path: str  # the landed UTF-8 CSV
    status: str  # extracted | reused | duplicate
    source_files: list[str]
    encoding: str | None = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _transcode_csv(src: Path, dst: Path) -> str:
    """Stream `src` into `dst` as UTF-8; returns the encoding it was read with."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            with src.open(encoding=encoding, newline="") as inp, dst.open("w", encoding="utf-8", newline="") as out:
                while chunk := inp.read(CHUNK):
                    out.write(chunk)
            return "utf-8" if encoding == "utf-8-sig" else "gb18030"
        except UnicodeDecodeError:
            continue
    raise DropFolderError(f"{src}: neither UTF-8 nor GBK/GB18030 text; expected a CSV export")


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


def _xlsx_to_csv(src: Path, dst: Path) -> str:
    from openpyxl import load_workbook

    try:
        book = load_workbook(src, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a broken file
        raise DropFolderError(f"{src}: not a readable XLSX workbook ({exc})") from exc
    try:
        sheet = book.worksheets[0]
        with dst.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            for row in sheet.iter_rows(values_only=True):
                if row and any(v is not None for v in row):
                    writer.writerow([_cell(v) for v in row])
    finally:
        book.close()
    return "xlsx"


def _has_records(src: Path) -> bool:
    """Whether an export holds anything below its header row."""
    if src.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(src, read_only=True)
        except Exception:  # noqa: BLE001 - unreadable: the conversion below reports it, naming the file
            return True
        try:
            rows = book.active.iter_rows(min_row=2, max_row=2, values_only=True)
            return any(value is not None for row in rows for value in row)
        finally:
            book.close()
    with src.open("rb") as handle:
        handle.readline()  # the header
        return any(line.strip() for line in handle)


def drop_files(entity: Entity, day: date, drop_dir: Path) -> list[Path]:
    folder = drop_dir / entity.source
    stem = f"{entity.name}_{day:%Y%m%d}"
    return sorted(p for p in folder.glob(f"{stem}.*") if p.suffix.lower() in SUFFIXES and p.is_file())


def extract_files(
    entity: Entity,
    day: date,
    *,
    warehouse_url: str,
    drop_dir: Path | None = None,
    landing: Path | None = None,
    archive_dir: Path | None = None,
    force: bool = False,
) -> FileExtractResult:
    import psycopg

    drop_dir = drop_dir or paths.DROP_DIR
    landing = landing or paths.LANDING_DIR
    archive_dir = archive_dir or paths.ARCHIVE_DIR
    target = landing / entity.source / day.isoformat() / f"{entity.name}.csv"
    found = drop_files(entity, day, drop_dir)
    if len(found) > 1:
        raise DropFolderError(
            f"{entity.source}.{entity.name}: {len(found)} exports for {day} in {drop_dir / entity.source}: "
            + ", ".join(p.name for p in found)
            + "; expected one (remove the wrong one and rerun)"
        )
    if not found:
        if target.is_file():
            return FileExtractResult(entity.name, str(target), "reused", [])
        raise MissingFeedError(
            f"source {entity.source!r}: no export for {entity.name} on {day} in {drop_dir / entity.source} "
            f"(expected {entity.name}_{day:%Y%m%d}.csv or .xlsx) and nothing landed for that day yet"
        )
    src = found[0]
    sha = _sha256(src)
    archived = archive_dir / entity.source / day.isoformat() / src.name
    with psycopg.connect(warehouse_url) as conn:
        conn.execute(DDL)
        # an export without records (a day with no changes) is the same bytes every such day: not a redelivery
        seen = (
            _has_records(src)
            and conn.execute(
                "select batch_date, file_name from audit.extracted_files"
                " where source = %s and entity = %s and sha256 = %s",
                [entity.source, entity.name, sha],
            ).fetchone()
        )
        if seen and not force:
            if not target.is_file():
                raise DropFolderError(
                    f"{entity.source}.{entity.name}: {src} is byte-identical to {seen[1]}, already extracted for "
                    f"{seen[0]}; not loading the same file twice (pass force to load it as {day})"
                )
            # delivered again: archive the copy, keep what was landed from the first delivery
            duplicate = archived.with_name(f"{src.stem}.duplicate-{sha[:8]}{src.suffix}")
            duplicate.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, duplicate)
            return FileExtractResult(entity.name, str(target), "duplicate", [str(duplicate)])
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_suffix(".csv.part")
        encoding = _xlsx_to_csv(src, part) if src.suffix.lower() == ".xlsx" else _transcode_csv(src, part)
        part.replace(target)
        archived.parent.mkdir(parents=True, exist_ok=True)
        size = src.stat().st_size
        shutil.move(src, archived)
        conn.execute(
            "insert into audit.extracted_files"
            " (source, entity, batch_date, file_name, sha256, bytes, encoding, archived_to)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict (source, entity, sha256) do update set"
            " batch_date = excluded.batch_date, archived_to = excluded.archived_to, extracted_at = now()",
            [entity.source, entity.name, day, src.name, sha, size, encoding, str(archived)],
        )
    return FileExtractResult(entity.name, str(target), "extracted", [str(archived)], encoding)
