"""The landing folder: where each source's daily feed files arrive.

`<landing>/<source>/<YYYY-MM-DD>/<entity>.<format>`. The sample generator (and, in production,
an API extractor or an SFTP drop) writes here; the loader reads from here.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from salesdw import config, paths


class MissingFeedError(FileNotFoundError):
    """A source's feed for a day is not (completely) there."""


def feed_files(source: str, day: date, landing: Path | None = None) -> dict[str, Path]:
    """The feed file per entity of `source` for `day`; raises if any is missing."""
    folder = (landing or paths.LANDING_DIR) / source / day.isoformat()
    files = {e.name: folder / e.file_name for e in config.entities_of(source)}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise MissingFeedError(
            f"source {source!r}: the feed for {day} is incomplete; expected files missing: "
            + ", ".join(missing)
            + " (generate sample feeds with `salesdw generate`, or check the source's delivery)"
        )
    return files
