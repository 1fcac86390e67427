"""The world a data dir's feeds come from, kept in `<data>/world.json` so a later `generate` extends it.

A world is its origin (the first delivered day), its history before the origin and the parameters
of the draw (`draw_of`: scale, seed, locale, dirty rate, currencies). A `generate` into the same data
dir with the same draw and a `start` after the origin extends the world: it simulates from the
recorded origin and history start through the new last day and writes only the days from `start`
on, so the days already delivered, and perhaps loaded, keep matching their sources.

Anything else starts a new world, as a first `generate` does: no world.json, another draw, or a
`start` on or before the origin (a start on the origin rewrites every day anyway).

An extension is the same world only while the simulated span is (`world.simulated_days`): whole
years past the origin, one year for a first generation of up to 365 days. Past that span every draw
would change, the delivered days with it, so `plan` refuses rather than start a new world unasked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from salesdw_dev.generate.world import simulated_days

WORLD_FILE = "world.json"
DEFAULT_HISTORY_DAYS = 365
Break = tuple[str, date]  # (kind, day)


class WorldError(RuntimeError):
    """The recorded world cannot be extended as asked."""


@dataclass(frozen=True)
class Plan:
    """What one `generate` simulates and writes."""

    origin: date
    history_days: int  # before the origin
    last_day: date  # the world's last delivered day once this generate is done
    write_from: date  # days from here through the requested last day are written
    kept_breaks: list[Break] = field(default_factory=list)  # planted earlier in days not rewritten
    notes: list[str] = field(default_factory=list)  # one line each, for the operator

    @property
    def days(self) -> int:
        return (self.last_day - self.origin).days + 1


def draw_of(*, scale: float, seed: int, locale: str, dirty: float, currencies: tuple[str, ...]) -> dict:
    """What else than its days a world is drawn from (as world.json records it)."""
    return {"scale": scale, "seed": seed, "locale": locale, "dirty": dirty, "currencies": list(currencies)}


def plan(data_dir: Path, *, start: date, days: int, history_days: int | None, draw: dict) -> Plan:
    """Extend the world recorded in `data_dir` if `start` and `draw` allow, else plan a new one."""
    last = start + timedelta(days=days - 1)
    given_history = DEFAULT_HISTORY_DAYS if history_days is None else history_days
    new = Plan(origin=start, history_days=given_history, last_day=last, write_from=start)
    path = data_dir / WORLD_FILE
    if not path.is_file():
        return new
    try:
        recorded = json.loads(path.read_text())
        origin, recorded_last = date.fromisoformat(recorded["origin"]), date.fromisoformat(recorded["last_day"])
        recorded_history, recorded_draw = recorded["history_days"], {k: recorded[k] for k in draw}
        recorded_breaks = [(b["kind"], date.fromisoformat(b["day"])) for b in recorded["breaks"]]
    except (ValueError, KeyError, TypeError) as exc:
        return _replacing(new, f"{path} is no world record ({exc!r})")
    differs = [f"{k} {draw[k]!r} (the world's: {recorded_draw[k]!r})" for k in draw if draw[k] != recorded_draw[k]]
    if start < origin:
        differs.append(f"--start {start} before the world's origin {origin}")
    elif start == origin and new.history_days != recorded_history:
        differs.append(f"--history-days {new.history_days} (the world's: {recorded_history})")
    if differs:
        return _replacing(new, f"{path}: {', '.join(differs)}")
    if start == origin:
        return new  # every delivered day is rewritten: the same world, generated afresh

    history_start = origin - timedelta(days=recorded_history)
    last_day = max(last, recorded_last)  # a day regenerated within the world leaves the later ones
    span_end = origin + timedelta(days=simulated_days((recorded_last - origin).days + 1) - 1)
    if last_day > span_end:
        raise WorldError(
            f"{path}: the world from {origin} is simulated through {span_end}; {last_day} is past it, and a "
            "longer simulation is another world whose days no longer match those delivered. Generate a new "
            f"world from --start {origin} (or into another --data-dir)"
        )
    notes = [f"{path}: extending the world from {origin} through {last_day}, its history from {history_start}"]
    if history_days is not None and start - timedelta(days=history_days) != history_start:
        given_start = start - timedelta(days=history_days)
        notes[0] += f" (not {given_start}, as --history-days {history_days} from {start} would have it)"
    if start > recorded_last + timedelta(days=1):
        gap = f"{recorded_last + timedelta(days=1)} .. {start - timedelta(days=1)}"
        notes.append(f"{path}: days {gap} are in the world but not written (generate them with an earlier --start)")
    kept = [(kind, day) for kind, day in recorded_breaks if not start <= day <= last]
    return Plan(origin, recorded_history, last_day, start, kept, notes)


def _replacing(new: Plan, why: str) -> Plan:
    return replace(new, notes=[f"{why}: a new world from {new.origin} replaces it"])


def save(data_dir: Path, plan: Plan, draw: dict, breaks: list[Break]) -> None:
    """Record the world (written last: a generate that fails keeps the world it found)."""
    record = {
        "origin": plan.origin.isoformat(),
        "last_day": plan.last_day.isoformat(),
        "history_days": plan.history_days,
        **draw,
        "breaks": [{"kind": kind, "day": day.isoformat()} for kind, day in sorted(breaks, key=lambda b: b[1])],
    }
    tmp = data_dir / f"{WORLD_FILE}.part"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(data_dir / WORLD_FILE)
