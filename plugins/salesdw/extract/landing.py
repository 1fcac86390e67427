"""The landing folder: where each source's daily feed files arrive.

`<landing>/<source>/<YYYY-MM-DD>/<entity>.<format>`. The extractors (and the sample generator)
write here; the loader reads from here. An API extract lands, written as the pages come:

    <landing>/<source>/<YYYY-MM-DD>/<entity>.jsonl          the records, each with "_origin"
    <landing>/<source>/<YYYY-MM-DD>/<entity>.deleted.jsonl  {"<primary key>": id, "deleted_at": ts, "_origin"}

each through a `.part` file renamed at the end, so a feed appears whole or not at all. A record
sent twice (an API serving a page again, or a record moving between pages while it is read) is
kept once, its last version. The landing folder may be an object store (SALESDW_LANDING_URL,
extract/stores.py): the files are then written locally and uploaded, each whole or not at all.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from salesdw import config
from salesdw.extract import stores
from salesdw.extract.stores import Location


class MissingFeedError(FileNotFoundError):
    """A source's feed for a day is not (completely) there."""


def feed_files(source: str, day: date, landing: Path | str | None = None) -> dict[str, Location]:
    """The feed file per entity of `source` for `day` in the landing store; raises if any is missing."""
    folder = stores.landing(landing) / source / day.isoformat()
    files = {e.name: folder / e.file_name for e in config.entities_of(source)}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise MissingFeedError(
            f"source {source!r}: the feed for {day} is incomplete; expected files missing: "
            + ", ".join(missing)
            + " (generate sample feeds with `salesdw generate`, or check the source's delivery)"
        )
    return files


class _LastLines:
    """Each key's last line number: a dict while small, then an SQLite file beside the `.part` file,
    so that a whole history's keys (millions of activities on a first night) do not fill memory."""

    SPILL_AT = 200_000  # keys; about 30 MB as a dict

    def __init__(self, part: Path) -> None:
        self.path = part.with_name(part.name + ".keys")
        self._dict: dict | None = {}
        self._db: sqlite3.Connection | None = None
        self._batch: list[tuple] = []

    def set(self, key, line: int) -> None:
        if self._dict is not None:
            self._dict[key] = line
            if len(self._dict) >= self.SPILL_AT:
                self._spill()
            return
        self._batch.append((key, line))
        if len(self._batch) >= 10_000:
            self._flush()

    def _spill(self) -> None:
        self.path.unlink(missing_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        # Scratch data: no journal, no fsync, a bounded page cache (64 MB).
        self._db.executescript(
            "pragma journal_mode=off; pragma synchronous=off; pragma cache_size=-65536;"
            "create table last (key primary key, line integer not null) without rowid;"
        )
        self._batch = list(self._dict.items())
        self._dict = None
        self._flush()

    def _flush(self) -> None:
        self._db.execute("begin")
        self._db.executemany("insert or replace into last values (?, ?)", self._batch)
        self._db.execute("commit")
        self._batch = []

    def __len__(self) -> int:
        if self._dict is not None:
            return len(self._dict)
        self._flush()
        return self._db.execute("select count(*) from last").fetchone()[0]

    def lines(self) -> Iterator[int]:
        """The kept line numbers, ascending."""
        if self._dict is not None:
            yield from sorted(self._dict.values())
            return
        self._flush()
        for (line,) in self._db.execute("select line from last order by line"):
            yield line

    def drop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self.path.unlink(missing_ok=True)
        self._dict = {}


class DedupFile:
    """Lines written as they come; on close, only each key's last line is kept."""

    def __init__(self, target: Location) -> None:
        self.target = target
        self.part = stores.working_copy(target)  # local: `<target>.part`
        self._out = self.part.open("w", encoding="utf-8")
        self._last = _LastLines(self.part)
        self.lines = 0
        self._count: int | None = None

    def write(self, key, obj: dict) -> None:
        self._out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._last.set(key if isinstance(key, (str, int, float, bool)) or key is None else json.dumps(key), self.lines)
        self.lines += 1
        self._count = None

    @property
    def count(self) -> int:
        if self._count is None:
            self._count = len(self._last)
        return self._count

    @property
    def duplicates(self) -> int:
        return self.lines - self.count

    def close(self) -> None:
        """Flush and drop the superseded lines, still as the .part file."""
        self._out.close()
        try:
            if self.duplicates:
                compact = self.part.with_name(self.part.name + "2")
                keep = self._last.lines()
                wanted = next(keep, None)
                with self.part.open(encoding="utf-8") as src, compact.open("w", encoding="utf-8") as dst:
                    for i, line in enumerate(src):
                        if i == wanted:
                            dst.write(line)
                            wanted = next(keep, None)
                os.replace(compact, self.part)
        finally:
            self._last.drop()

    def publish(self) -> None:
        stores.publish(self.part, self.target)

    def discard(self) -> None:
        self._out.close()
        self._last.drop()
        self.part.with_name(self.part.name + "2").unlink(missing_ok=True)
        stores.discard(self.part, self.target)


def api_paths(folder: Location, name: str) -> tuple[Location, Location]:
    """The records and deleted-records files of entity `name` in a day's landing folder."""
    return folder / f"{name}.jsonl", folder / f"{name}.deleted.jsonl"


@contextmanager
def api_extract(folder: Location, name: str) -> Iterator[tuple[DedupFile, DedupFile]]:
    """The records and deleted-records files of one extract, published together when the block ends
    (the records file last: its presence means the extract is complete), discarded if it fails."""
    records, deletions = (DedupFile(p) for p in api_paths(folder, name))
    try:
        yield records, deletions
        records.close()
        deletions.close()
        deletions.publish()
        records.publish()
    except BaseException:
        records.discard()
        deletions.discard()
        raise
