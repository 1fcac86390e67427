"""File-drop extractor: an ERP's daily exports picked up from a drop folder.

ERPs (Kingdee, Yonyou, SAP) write `<entity>_<YYYYMMDD>.csv` or `.xlsx` into a shared folder (CSVs
often in GBK), or `<entity>_<YYYYMMDD>.empty` for a day without records. For a batch day the
extractor takes the entity's export as a new delivery (extract/deliveries.py): archives it under
its own name, compares it with the delivery loaded for that day (byte-identical: nothing to do),
and lands it for the loader as UTF-8 CSV (extract/transcode.py) under a name of its own. The load
step then settles it: loaded, the landed copy becomes the day's `<entity>.csv` (what a rerun of the
day with nothing new delivered loads again), or refused, and the day keeps the batch it had.
The landing and the archive may be object stores (SALESDW_LANDING_URL, SALESDW_ARCHIVE_URL,
extract/stores.py): their files are then named by URL, wherever this says path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from salesdw import paths
from salesdw.config import Entity
from salesdw.errors import RefusedDeliveryError
from salesdw.extract import deliveries, stores
from salesdw.extract.landing import MissingFeedError
from salesdw.extract.mapping import to_contract_shape
from salesdw.extract.stores import Location
from salesdw.extract.transcode import EMPTY_MARKER, DropFolderError

__all__ = ["DropFolderError", "FileExtractResult", "extract_files", "settle_load"]

SUFFIXES = (".csv", ".xlsx", ".jsonl", EMPTY_MARKER)
CHUNK = 1 << 20


@dataclass
class FileExtractResult:
    entity: str
    path: str  # what the load step loads: the landed delivery, or the day's current landed file (or its URL)
    status: str  # extracted | unchanged | reused
    source_files: list[str]  # the archived copies (paths or URLs)
    encoding: str | None = None
    delivery: int | None = None  # its number among the entity's deliveries for the day
    origin: str | None = None  # the delivered file, as messages name it
    sha256: str | None = None
    note: str = ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def drop_folder(entity: Entity, drop_dir: Path) -> Path:
    """The deployment's own folder for the entity, else `<drop_dir>/<source>`."""
    return Path(entity.drop_dir) if entity.drop_dir else drop_dir / entity.source


def _export_name(entity: Entity, day: date) -> str:
    pattern = entity.file_pattern or f"{entity.name}_{{YYYYMMDD}}"
    return pattern.replace("{YYYYMMDD}", f"{day:%Y%m%d}").replace("{YYYY-MM-DD}", day.isoformat())


def expected_names(entity: Entity, day: date) -> str:
    """The file names the entity's export may have on `day`, as messages say them."""
    name = _export_name(entity, day)
    kinds = ".jsonl" if entity.format == "jsonl" else ".csv, .xlsx"
    return name if Path(name).suffix.lower() in SUFFIXES else f"{name}{kinds} or {EMPTY_MARKER}"


def drop_files(entity: Entity, day: date, drop_dir: Path) -> list[Path]:
    """The entity's exports for `day`: `<entity>_<YYYYMMDD>.csv|.xlsx|.empty`, or the deployment's
    `file` pattern (a fixed name such as sales_pipeline.csv, or one with {YYYYMMDD} or {YYYY-MM-DD},
    which may name a subfolder: opportunities/{YYYYMMDD}.csv)."""
    folder, name = drop_folder(entity, drop_dir), _export_name(entity, day)
    if Path(name).suffix.lower() in SUFFIXES:
        candidates = [folder / name, (folder / name).with_suffix(EMPTY_MARKER)]
    else:
        candidates = list(folder.glob(f"{name}.*"))
    return sorted(p for p in set(candidates) if p.suffix.lower() in SUFFIXES and p.is_file())


def day_file(entity: Entity, day: date, landing: Path | str | None = None) -> Location:
    """The day's current landed file: the last delivery that loaded."""
    return stores.landing(landing) / entity.source / day.isoformat() / f"{entity.name}.{landed_format(entity)}"


def landed_format(entity: Entity) -> str:
    """What the loader reads: JSON lines for a JSON-lines entity, else CSV (XLSX becomes CSV)."""
    return "jsonl" if entity.format == "jsonl" else "csv"


def extract_files(
    entity: Entity,
    day: date,
    *,
    warehouse_url: str,
    drop_dir: Path | None = None,
    landing: Path | str | None = None,
    archive_dir: Path | str | None = None,
    force: bool = False,
    delivered: Path | None = None,
) -> FileExtractResult:
    """Take the day's export from the drop folder (or `delivered`, a file given by hand, which is
    copied, not moved) as a new delivery; `force` loads it even when identical to the loaded one."""
    import psycopg

    drop_dir = drop_dir or paths.DROP_DIR
    target = day_file(entity, day, landing)
    found = [delivered] if delivered else drop_files(entity, day, drop_dir)
    if len(found) > 1:
        raise DropFolderError(
            f"{entity.source}.{entity.name}: {len(found)} exports for {day} in {drop_folder(entity, drop_dir)}: "
            + ", ".join(p.name for p in found)
            + "; expected one (remove the wrong one and rerun)"
        )
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        deliveries.ensure_tables(conn)
        with conn.transaction():
            deliveries.lock_day(conn, entity, day)
            if not found:
                return _nothing_new(conn, entity, day, target, drop_dir)
            src = found[0]
            if not src.is_file():
                raise MissingFeedError(f"{entity.source}.{entity.name}: {src}: no such file to deliver for {day}")
            number = deliveries.next_number(conn, entity, day)
            sha, size = _sha256(src), src.stat().st_size
            archived = stores.archive(archive_dir) / entity.source / day.isoformat() / f"{number}-{src.name}"
            # archived first, so whatever is decided next, the delivered bytes are kept; the operator's
            # own file, or a read-only folder's, stays where it is
            with stores.kept(src, archived, move=not (delivered or entity.keep_files)) as readable:
                facts = {
                    "file_name": src.name,
                    "delivered_from": str(src),
                    "sha256": sha,
                    "size": size,
                    "archived_to": str(archived),
                }
                loaded = deliveries.latest(conn, entity, day, "loaded")
                if loaded and loaded.sha256 == sha and target.is_file() and not force:
                    deliveries.record(conn, entity, day, number, outcome="unchanged", **facts)
                    note = f"identical to delivery {loaded.number}, which is loaded for {day}: nothing to do"
                    return FileExtractResult(
                        entity.name, str(target), "unchanged", [str(archived)], None, number, str(src), sha, note
                    )
                incoming = target.with_name(f"{entity.name}.delivery{number}.{landed_format(entity)}")
                part = stores.working_copy(incoming)
                try:
                    encoding = to_contract_shape(entity, readable, part, day, str(src))
                except RefusedDeliveryError as exc:
                    stores.discard(part, incoming)
                    refused = str(exc).replace(str(readable), str(src))  # name the file as delivered
                    deliveries.record(conn, entity, day, number, outcome="refused", error=refused, **facts)
                except BaseException:
                    stores.discard(part, incoming)
                    raise
                else:
                    refused = None
                    stores.publish(part, incoming)
                    deliveries.record(conn, entity, day, number, outcome="extracted", encoding=encoding, **facts)
                replaces = f", replacing delivery {loaded.number}" if loaded else ""
    if refused:  # raised once its refusal is recorded
        raise DropFolderError(refused)
    return FileExtractResult(
        entity.name,
        str(incoming),
        "extracted",
        [str(archived)],
        encoding,
        number,
        str(src),
        sha,
        f"delivery {number} for {day}{replaces}",
    )


def _nothing_new(conn, entity: Entity, day: date, target: Location, drop_dir: Path) -> FileExtractResult:
    """No file in the drop folder: a delivery whose load did not finish, else the day's landed file (a rerun)."""
    pending = deliveries.latest(conn, entity, day, "extracted")
    if pending:
        incoming = target.with_name(f"{entity.name}.delivery{pending.number}.{landed_format(entity)}")
        if incoming.is_file():
            return FileExtractResult(
                entity.name,
                str(incoming),
                "extracted",
                [pending.archived_to],
                None,
                pending.number,
                pending.archived_to,
                pending.sha256,
                f"delivery {pending.number} for {day}, not loaded yet",
            )
    if target.is_file():
        return FileExtractResult(entity.name, str(target), "reused", [], note=f"nothing new delivered for {day}")
    raise MissingFeedError(
        f"source {entity.source!r}: no export for {entity.name} on {day} in {drop_folder(entity, drop_dir)} "
        f"(expected {expected_names(entity, day)}) and nothing landed for that day yet"
    )


def settle_load(
    conn, entity: Entity, day: date, extracted: dict, *, batch_id: str | None = None, error: str | None = None
) -> None:
    """After the load of an extracted delivery: record its outcome; a loaded one becomes the day's file."""
    if extracted.get("status") != "extracted" or not extracted.get("delivery"):
        return
    incoming = stores.location(extracted["path"])
    with conn.transaction():
        deliveries.settle(
            conn, entity, day, extracted["delivery"], "refused" if error else "loaded", batch_id=batch_id, error=error
        )
    if error:
        stores.remove(incoming)  # archived as delivered; a rerun of the day keeps the last good file
    elif incoming.is_file():
        stores.rename(incoming, incoming.with_name(f"{entity.name}.{landed_format(entity)}"))
