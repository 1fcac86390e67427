"""Plant a known critical violation in one day's feeds (`salesdw generate --break KIND`).

Unlike `--dirty` (a trickle of bad records the loader quarantines and the run shrugs off), a break
spoils a whole day's feed of one entity, so its batch loses far more than the tolerated share of
rows (sources.yml `max_reject_rate`) and `salesdw run --date DAY` stops at the feeds gate, before
dbt touches the marts:
  duplicate_keys    every invoice in the day's ERP export appears twice
  negative_payment  every payment in the day's export has a negative amount
  unknown_rep       every opportunity changed that day names an owner rep the CRM does not have
"""

from __future__ import annotations

from datetime import date, datetime

UNKNOWN_REP = "R99999"
RE_DELIVERED = 10
BREAKS = {
    "duplicate_keys": ("finance", "invoices"),
    "negative_payment": ("finance", "payments"),
    "unknown_rep": ("crm", "opportunities"),
}


class BreakError(ValueError):
    """The break cannot be planted (for example no such records that day)."""


def _feed_day(ts: datetime, start: date) -> date:
    return max(ts.date(), start)  # the first day's feed also carries everything before it


def break_versions(kind: str, versions_of: list[list], day: date, start: date) -> int:
    """unknown_rep: rewrite the record versions that reach the day's API feed; returns how many."""
    if kind != "unknown_rep":
        return 0
    broken = 0
    for versions in versions_of:
        for i, (ts, fields) in enumerate(versions):
            if fields is not None and _feed_day(ts, start) == day:
                versions[i] = (ts, dict(fields, owner_rep_id=UNKNOWN_REP))
                broken += 1
    return broken


def break_rows(kind: str, rows: list[dict], earlier: list[dict]) -> tuple[list[dict], int]:
    """duplicate_keys / negative_payment: spoil one day's file export rows; returns (rows, how many).

    A day with few records of the entity gets some re-delivered from `earlier` days, as a
    correction export would send them, so the break shows on any day, and spoils more rows than the
    feeds gate lets through as a trickle (sources.yml `min_rejected_rows`).
    """
    if len(rows) < RE_DELIVERED:
        first = next(iter(rows[0])) if rows else None  # the export's key column comes first
        keys = {row[first] for row in rows} if first else set()
        again = [dict(row) for row in earlier if not first or row[first] not in keys]
        rows = rows + again[len(again) - (RE_DELIVERED - len(rows)) :] if again else rows
    if kind == "duplicate_keys":
        return [r for row in rows for r in (row, dict(row))], len(rows)
    if kind == "negative_payment":
        return [dict(row, amount=-abs(row["amount"])) for row in rows], len(rows)
    return rows, 0


def check(kind: str, day: date, broken: int) -> str:
    source, entity = BREAKS[kind]
    if not broken:
        raise BreakError(f"--break {kind}: {source}.{entity} has no records on {day} to break; pick another day")
    return (
        f"planted {kind} in {broken} {source}.{entity} record(s) of {day}: `salesdw run --date {day}` stops at the gate"
    )
