"""The sample feed generator: deterministic, complete, shaped like the real feeds."""

import csv
import hashlib
import json
from datetime import date

from salesdw import config
from salesdw.generate import generate

START = date(2026, 1, 1)


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_feeds_other_seed_other_feeds(tmp_path):
    a = generate(start=START, days=2, scale=0.02, seed=7, landing=tmp_path / "a")
    b = generate(start=START, days=2, scale=0.02, seed=7, landing=tmp_path / "b")
    c = generate(start=START, days=2, scale=0.02, seed=8, landing=tmp_path / "c")
    assert a == b
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_every_entity_has_a_file_per_day_and_counts_match(tmp_path):
    counts = generate(start=START, days=3, scale=0.02, seed=1, landing=tmp_path)
    for entity in config.entities():
        total = 0
        for offset in range(3):
            path = tmp_path / entity.source / f"2026-01-0{offset + 1}" / entity.file_name
            assert path.is_file(), path
            if entity.format == "csv":
                with path.open(newline="") as f:
                    rows = list(csv.reader(f))
                assert rows[0] == list(entity.columns)
                total += len(rows) - 1
            else:
                lines = path.read_text().splitlines()
                assert all(set(json.loads(line)) == set(entity.columns) for line in lines)
                total += len(lines)
        assert total == counts[entity.raw_table], entity.raw_table
    # scale 0.02: 100 accounts, at least one rep per region
    assert counts["crm__accounts"] == 100
    assert counts["crm__reps"] == 4


def test_opportunities_follow_the_stage_order(tmp_path):
    generate(start=START, days=1, scale=0.02, seed=3, landing=tmp_path)
    order = ["needs_analysis", "proposal", "negotiation", "contract", "closed_won"]
    stages: dict[str, list[tuple[str, str]]] = {}
    for line in (tmp_path / "crm" / "2026-01-01" / "opportunity_stage_history.jsonl").read_text().splitlines():
        row = json.loads(line)
        stages.setdefault(row["opportunity_id"], []).append((row["entered_at"], row["stage"]))
    assert stages
    for history in stages.values():
        names = [s for _, s in sorted(history)]
        open_part = [s for s in names if s != "closed_lost"]
        assert open_part == order[: len(open_part)]
        assert names.count("closed_lost") <= 1 and ("closed_lost" not in names or names[-1] == "closed_lost")


def test_chinese_locale_names_and_regions(tmp_path):
    generate(start=START, days=1, scale=0.02, seed=3, locale="zh_CN", landing=tmp_path)
    reps = [json.loads(x) for x in (tmp_path / "crm" / "2026-01-01" / "reps.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["region"] for r in reps} == {"华东", "华南", "华北", "西南"}
