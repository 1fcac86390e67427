"""What the simulated source systems hold: every change of every API entity, by system modstamp.

Loaded from `<state dir>/<source>/<entity>.jsonl` (written by `salesdw generate`), one change a
line: `{"visible_at": ISO, "op": "upsert"|"delete", "record": {...}}`. Each change keeps only the
record's JSON text, so a scale-1 world (about 100k changes per big entity) stays small in memory.
"""

from __future__ import annotations

import json
import re
import threading
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from salesdw import config
from salesdw.config import Entity

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPACE_OFFSET = re.compile(r" (\d\d:?\d\d)$")


class StateError(ValueError):
    """A state file is missing or holds a line that is not a change."""


def to_micros(ts: datetime) -> int:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_ts(text: str) -> int:
    """ISO 8601 (`Z` or an offset; naive means UTC) as microseconds since the epoch."""
    try:
        # an unencoded "+" in a query string arrives as a space: 2026-01-02T00:00:00 08:00
        return to_micros(datetime.fromisoformat(_SPACE_OFFSET.sub(r"+\1", text.strip())))
    except ValueError:
        raise ValueError(f"expected an ISO 8601 timestamp such as 2026-01-02T00:00:00Z, got {text!r}") from None


def format_ts(micros: int) -> str:
    ts = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micros % 1_000_000 else "%Y-%m-%dT%H:%M:%SZ")


class Change(NamedTuple):
    at: int  # visible_at, microseconds since the epoch
    key: Any  # the primary key's value
    deleted: bool
    body: str  # the record as JSON text (a delete: only the primary key)

    @property
    def order(self) -> tuple[int, str]:
        return self.at, str(self.key)


@dataclass
class EntityState:
    entity: Entity
    path: Path | None = None  # the state file (none: no changes), read on first use
    # window query -> (changes in (visible_at, id) order, their order keys); the state never changes
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _read_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _changes: list[Change] | None = field(default=None, repr=False)  # sorted by `at`, then file order
    _ats: list[int] = field(default_factory=list, repr=False)

    @property
    def changes(self) -> list[Change]:
        return self._read()[0]

    @property
    def ats(self) -> list[int]:
        return self._read()[1]

    def _read(self) -> tuple[list[Change], list[int]]:
        with self._read_lock:
            if self._changes is None:
                changes = _read_changes(self.entity, self.path) if self.path and self.path.is_file() else []
                self._ats = [c.at for c in changes]
                self._changes = changes
        return self._changes, self._ats

    @property
    def end(self) -> int | None:
        return self.ats[-1] + 1 if self.ats else None

    def query(self, since: int | None, before: int | None, deleted: bool) -> tuple[list[Change], list[tuple]]:
        """The window `[since, before)`: each key's latest change before `before` when it falls in
        the window and is an upsert (or, `deleted`, every delete in the window); by (visible_at, id)."""
        cache_key = (since, before, deleted)
        with self._lock:
            if cache_key in self._cache:
                self._cache.move_to_end(cache_key)
                return self._cache[cache_key]
        lo = bisect_left(self.ats, since) if since is not None else 0
        hi = bisect_left(self.ats, before) if before is not None else len(self.ats)
        window = self.changes[lo:hi]
        if deleted:
            picked = [c for c in window if c.deleted]
        else:
            # the last change of a key inside the window is its latest before `before`
            latest: dict[Any, Change] = {}
            for change in window:
                latest[change.key] = change
            picked = [c for c in latest.values() if not c.deleted]
        picked.sort(key=lambda c: c.order)
        result = (picked, [c.order for c in picked])
        with self._lock:
            self._cache[cache_key] = result
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
        return result


def load_entity(entity: Entity, path: Path) -> EntityState:
    """One entity's state, read now (a missing file is an entity with no changes yet)."""
    state = EntityState(entity, path)
    state._read()
    return state


def _read_changes(entity: Entity, path: Path) -> list[Change]:
    """Stream one state file into memory."""
    pk = entity.primary_key
    changes = []
    with path.open(encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                record = obj["record"]
                op = obj["op"]
                if op not in ("upsert", "delete") or not isinstance(record, dict) or pk not in record:
                    raise ValueError
                at = parse_ts(obj["visible_at"])
            except (ValueError, KeyError, TypeError, AttributeError):
                raise StateError(
                    f"{path}:{line_no}: expected a change "
                    f'{{"visible_at": ISO, "op": "upsert"|"delete", "record": {{"{pk}": ...}}}}, got {line[:200]!r}'
                ) from None
            changes.append(Change(at, record[pk], op == "delete", json.dumps(record, ensure_ascii=False)))
    changes.sort(key=lambda c: c.at)  # stable: same-instant changes keep their file order
    return changes


def load_state(state_dir: Path, *, wait: bool = False) -> dict[tuple[str, str], EntityState]:
    """Every API entity's changes, keyed by (source, entity). The files are read in a thread of
    their own, so a server can listen at once (a run's first request comes seconds later, once
    Airflow has started); a request for an entity not read yet waits for it. `wait`: read them
    here instead, a file that is not a state raising StateError."""
    state_dir = Path(state_dir)
    if not state_dir.is_dir():
        raise StateError(f"no source state in {state_dir}: write it with `salesdw generate`")
    served = [e for e in config.contract() if e.delivery == "api"]
    found = {(e.source, e.name): EntityState(e, state_dir / e.source / f"{e.name}.jsonl") for e in served}
    if not any(s.path.is_file() and s.path.stat().st_size for s in found.values()):
        raise StateError(
            f"no source state in {state_dir} (expected <source>/<entity>.jsonl files): write it with `salesdw generate`"
        )
    if wait:
        for state in found.values():
            state._read()
    else:
        threading.Thread(
            target=_read_all, args=(list(found.values()),), name="salesdw-sources-state", daemon=True
        ).start()
    return found


def _read_all(states: list[EntityState]) -> None:
    for state in states:
        try:
            state._read()
        except StateError:
            pass  # said again to whoever asks for the entity
