"""Benchmark: the salesdw loader against a plain `COPY ... FROM STDIN` on the same 1,000,000-row file.

Run with `make bench-load`. Both load into the same throw-away embedded PostgreSQL, taking turns for
a few rounds in this run (so a busy machine slows both alike), and the medians are compared; the
loader runs in a child process so its peak memory (max RSS) is its own. From the second round on the
loader replaces the day's batch, as a rerun does. Target: the loader reaches at least half of plain
COPY's throughput, under 300 MB peak.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from salesdw import config
from salesdw.warehouse.embedded import EmbeddedPostgres, free_port

ENTITY = next(e for e in config.entities() if e.source == "finance" and e.name == "invoices")
DAY = date(2026, 1, 1)


def write_feed(path: Path, rows: int, seed: int = 1, broken: int = 0) -> None:
    """A finance invoices export with `rows` records (streamed, never held in memory).

    With `broken`, that many records spread through the file break the contract (a negative amount)
    and as many more repeat an earlier key: the loader must find and name each of them.
    """
    rng = random.Random(seed)
    every = rows // (2 * broken) if broken else 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(ENTITY.columns)
        for i in range(1, rows + 1):
            day = DAY - timedelta(days=rng.randrange(730))
            amount = rng.randrange(100_00, 5_000_000_00) / 100
            planted = every and i % every == 0 and i // every <= 2 * broken
            if planted and i // every % 2:
                amount = -amount
            writer.writerow(
                [
                    f"INV{i - 1 if planted and not i // every % 2 else i:09d}",
                    f"O{rng.randrange(1, 400_000):07d}",
                    f"A{rng.randrange(1, 50_000):06d}",
                    day.isoformat(),
                    (day + timedelta(days=30)).isoformat(),
                    f"{amount:.2f}",
                    f"{amount * 0.13:.2f}",
                    "CNY",
                    f"{day.isoformat()}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
                ]
            )


def plain_copy(url: str, path: Path) -> float:
    cols = ", ".join(f"{c} text" for c in ENTITY.columns)
    with psycopg.connect(url) as conn:
        conn.execute(f"drop table if exists bare_copy; create table bare_copy ({cols})")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("copy bare_copy from stdin (format csv, header true)") as copy,
            path.open("rb") as f,
        ):
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - started


def loader_child(url: str, path: str) -> None:
    from salesdw.load.batch import load_file

    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        result = load_file(conn, ENTITY, Path(path), DAY)
        took = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{took} {peak_mb} {result.rows_read} {result.rows_loaded} {result.rows_rejected}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--broken", type=int, default=0, help="plant this many broken and as many repeated records")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="salesdw-bench-") as tmp:
        tmp_path = Path(tmp)
        feed = tmp_path / "invoices.csv"
        started = time.perf_counter()
        write_feed(feed, args.rows, broken=args.broken)
        print(
            f"feed: {args.rows:,} rows, {feed.stat().st_size / 1e6:.0f} MB,"
            f" written in {time.perf_counter() - started:.1f} s"
        )
        server = EmbeddedPostgres(tmp_path / "pg", port=free_port())
        server.start()
        copies, loads, peaks = [], [], []
        try:
            url = server.url()
            for _ in range(args.rounds):
                copies.append(plain_copy(url, feed))
                child = subprocess.run(
                    [sys.executable, __file__, "--child", url, str(feed)], capture_output=True, text=True
                )
                if child.returncode != 0:
                    print(child.stderr, file=sys.stderr)
                    return 1
                took, peak_mb, read, loaded, rejected = child.stdout.split()
                loads.append(float(took))
                peaks.append(float(peak_mb))
        finally:
            server.destroy()
    copy_s, loader_s = statistics.median(copies), statistics.median(loads)
    ratio = copy_s / loader_s
    rounds = ", ".join(f"{c:.2f}/{lo:.2f}" for c, lo in zip(copies, loads))
    print(f"rounds (COPY/loader s): {rounds}")
    print(f"plain COPY FROM STDIN : {copy_s:6.2f} s  ({args.rows / copy_s:,.0f} rows/s, median)")
    print(
        f"salesdw loader        : {loader_s:6.2f} s  ({args.rows / loader_s:,.0f} rows/s, median; read {int(read):,},"
        f" loaded {int(loaded):,}, rejected {int(rejected):,})"
    )
    print(f"throughput ratio      : {ratio:.2f}  (target >= 0.50)")
    print(f"loader peak memory    : {max(peaks):.0f} MB  (target < 300 MB)")
    return (
        0 if (int(read), int(loaded), int(rejected)) == (args.rows, args.rows - 2 * args.broken, 2 * args.broken) else 1
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        loader_child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
