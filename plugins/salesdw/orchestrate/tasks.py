"""The nightly run's landing steps as plain functions: the DAG's tasks call them, and so does
`salesdw land` for one entity and day outside Airflow, so both run the same code."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from salesdw import config
from salesdw.errors import RefusedDeliveryError


def extract(
    source: str, name: str, interval_start: datetime, interval_end: datetime, *, url: str, delivered: Path | None = None
) -> dict:
    """Land one entity's feed for the interval: from its API, or from the ERP's drop folder."""
    from salesdw.extract.run import extract_for_interval

    return extract_for_interval(source, name, interval_start, interval_end, warehouse_url=url, delivered=delivered)


def _batch_row(conn, batch_id: str) -> dict:
    row = conn.execute(
        "select batch_id, source, entity, batch_date, origin, rows_read, rows_loaded, rows_rejected, blank_lines"
        " from audit.load_batches where batch_id = %s",
        [batch_id],
    ).fetchone()
    keys = ("batch_id", "source", "entity", "batch_date", "origin", "rows_read", "rows_loaded", "rows_rejected")
    return dict(zip((*keys, "blank_lines"), row)) | {"batch_date": row[3].isoformat()}


def _loaded_batch(conn, entity: config.Entity, day: date) -> str | None:
    row = conn.execute(
        "select batch_id from audit.load_batches where source = %s and entity = %s and batch_date = %s"
        " and status = 'loaded'",
        [entity.source, entity.name, day],
    ).fetchone()
    return row[0] if row else None


def load(source: str, extracted: dict, day: date, *, url: str) -> list[dict]:
    """COPY the landed file (and an API's deleted-records listing) into raw as the entity's batch for
    the day, replacing a previous one; a file delivery is then settled (loaded, or refused). The file
    is where the extract put it: a path in the local landing folder, or a URL in the landing store
    (SALESDW_LANDING_URL), read from a local copy, so any worker loads what another extracted."""
    from salesdw.extract import stores
    from salesdw.extract.files import settle_load
    from salesdw.load.batch import after_load, load_file
    from salesdw.warehouse import connect

    def load_landed(conn, entity: config.Entity, landed: str, origin: str | None = None):
        with stores.local_copy(stores.location(landed)) as path:
            return load_file(conn, entity, path, day, origin=origin or landed)

    entity = config.entity(source, extracted["entity"])
    with connect(url) as conn:
        if extracted.get("status") == "unchanged":  # an identical re-send: the day's batch stands
            batch_id = _loaded_batch(conn, entity, day)
            if batch_id:
                return [_batch_row(conn, batch_id) | {"status": "unchanged", "note": extracted.get("note", "")}]
        try:
            result = load_landed(conn, entity, extracted["path"], extracted.get("origin"))
        except RefusedDeliveryError as exc:
            settle_load(conn, entity, day, extracted, error=str(exc))
            raise
        settle_load(conn, entity, day, extracted, batch_id=result.batch_id)
        after_load(conn, entity)
        results = [asdict(result) | {"status": "loaded", "note": extracted.get("note", "")}]
        deleted_path = extracted.get("deleted_path")
        if entity.snapshot:  # a full snapshot: what the last one had and this one lacks was deleted
            from salesdw.load.snapshots import write_deletions

            listing = stores.location(extracted["path"]).with_name(f"{entity.name}__deleted.jsonl")
            write_deletions(conn, entity, day, result.batch_id, listing)
            deleted_path = str(listing)
        if deleted_path:
            deleted = load_landed(conn, entity.deletions(), deleted_path)
            after_load(conn, entity.deletions())
            results.append(asdict(deleted) | {"status": "loaded", "note": ""})
    return [r | {"batch_date": str(r["batch_date"])} for r in results]


def day_interval(day: date) -> tuple[datetime, datetime]:
    """The data interval whose feed day is `day` (the nightly run of the day after)."""
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def land(source: str, name: str, day: date, *, url: str, delivered: Path | None = None, gate: bool = True) -> dict:
    """Extract, load, references and the feeds gate for one entity and day; what happened, as a dict
    (status loaded | unchanged | refused). Raises only for what is not the delivery's fault."""
    from salesdw.load.references import check_references
    from salesdw.quality.feeds import QualityGateError, validate_feeds
    from salesdw.warehouse import connect

    entity = config.entity(source, name)
    report: dict = {"source": source, "entity": name, "date": day.isoformat(), "file": str(delivered or "")}
    start, end = day_interval(day)
    try:
        extracted = extract(source, name, start, end, url=url, delivered=delivered)
        report |= {"file": extracted.get("origin") or extracted.get("path"), "delivery": extracted.get("delivery")}
        batches = load(source, extracted, day, url=url)
    except RefusedDeliveryError as exc:
        return report | {"status": "refused", "error": str(exc)}
    check_references(url, day)
    batch = batches[0]
    with connect(url) as conn:
        after = _batch_row(conn, batch["batch_id"])  # quarantined orphans moved rows since the load
        reasons = dict(
            conn.execute(
                "select coalesce(rule, 'other'), count(*) from raw._rejected where _batch_id = %s"
                " group by 1 order by 1",
                [batch["batch_id"]],
            ).fetchall()
        )
    report |= {
        "status": batch["status"],
        "note": batch.get("note", ""),
        "batch_id": after["batch_id"],
        "rows_read": after["rows_read"],
        "rows_loaded": after["rows_loaded"],
        "rows_rejected": after["rows_rejected"],
        "rejected_by_reason": reasons,
        "quarantined": reasons.get("orphan_reference", 0),
        "blank_lines": after["blank_lines"],
        "error": None,
    }
    if gate:
        run_id = f"land__{entity.raw_table}__{day}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        try:
            summary = validate_feeds(url, day, run_id=run_id, entities=[entity])
            report["gate"] = {"status": "passed", "warnings": summary["warnings"], "run_id": run_id}
        except QualityGateError as exc:
            report["gate"] = {"status": "failed", "message": str(exc), "run_id": run_id}
    return report
