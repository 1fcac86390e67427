"""An API extract keeps each record once, its last version, whether its keys fit in memory or not."""

from __future__ import annotations

import json

import pytest
from salesdw.extract import landing
from salesdw.extract.landing import DedupFile


def _write(target, keys):
    out = DedupFile(target)
    for n, key in enumerate(keys):
        out.write(key, {"id": key, "n": n})
    out.close()
    return out


@pytest.mark.parametrize("spill_at", [1_000_000, 3], ids=["in-memory", "on-disk"])
def test_each_key_keeps_its_last_line_in_delivery_order(tmp_path, monkeypatch, spill_at):
    monkeypatch.setattr(landing._LastLines, "SPILL_AT", spill_at)
    keys = ["a", "b", "c", "a", 7, "d", ("x", 1), "b", "e", ("x", 1), 7.0, "f"]
    out = _write(tmp_path / "accounts.jsonl", keys)

    kept = [json.loads(line)["n"] for line in out.part.read_text().splitlines()]
    # a:3, c:2, d:5, b:7, e:8, ("x",1):9, 7 == 7.0:10, f:11 — each key's last line, in line order
    assert kept == [2, 3, 5, 7, 8, 9, 10, 11]
    assert (out.count, out.duplicates, out.lines) == (8, 4, 12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.jsonl.part"]  # no index left behind


def test_without_duplicates_the_file_is_left_as_written(tmp_path, monkeypatch):
    monkeypatch.setattr(landing._LastLines, "SPILL_AT", 2)
    out = _write(tmp_path / "leads.jsonl", [f"k{i}" for i in range(25_003)])  # spills, flushes in batches
    assert (out.count, out.duplicates) == (25_003, 0)
    assert sum(1 for _ in out.part.open()) == 25_003


def test_a_discarded_extract_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(landing._LastLines, "SPILL_AT", 2)
    out = DedupFile(tmp_path / "leads.jsonl")
    for key in ["a", "b", "c", "a"]:
        out.write(key, {"id": key})
    out.discard()
    assert list(tmp_path.iterdir()) == []
