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


class DedupFile:
    """Lines written as they come; on close, only each key's last line is kept (keys held in memory)."""

    def __init__(self, target: Location) -> None:
        self.target = target
        self.part = stores.working_copy(target)  # local: `<target>.part`
        self._out = self.part.open("w", encoding="utf-8")
        self._last: dict = {}
        self.lines = 0

    def write(self, key, obj: dict) -> None:
        self._out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._last[key if isinstance(key, (str, int, float, bool)) or key is None else json.dumps(key)] = self.lines
        self.lines += 1

    @property
    def count(self) -> int:
        return len(self._last)

    @property
    def duplicates(self) -> int:
        return self.lines - len(self._last)

    def close(self) -> None:
        """Flush and drop the superseded lines, still as the .part file."""
        self._out.close()
        if not self.duplicates:
            return
        keep = set(self._last.values())
        compact = self.part.with_name(self.part.name + "2")
        with self.part.open(encoding="utf-8") as src, compact.open("w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i in keep:
                    dst.write(line)
        os.replace(compact, self.part)

    def publish(self) -> None:
        stores.publish(self.part, self.target)

    def discard(self) -> None:
        self._out.close()
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
