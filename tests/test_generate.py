"""The sample feed generator: deterministic, complete, shaped like the real feeds."""

import csv
import hashlib
import json
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from salesdw import config
from salesdw_dev.generate import generate
from salesdw_dev.generate.anchor import WorldError

START = date(2026, 1, 1)
DAYS_1_2 = ("2026-01-01", "2026-01-02")


def _content(path) -> bytes:
    """A file's bytes; a workbook's cells (XLSX zips carry write times)."""
    if path.suffix != ".xlsx":
        return path.read_bytes()
    return repr(list(load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))).encode()


def _digest(folder):
    """Content digest of a folder (see _content)."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode())
            h.update(_content(path))
    return h.hexdigest()


def _gen(path, **kwargs):
    return generate(start=START, data_dir=path, landing_files=True, **kwargs)


def test_same_seed_same_feeds_other_seed_other_feeds(tmp_path):
    a = _gen(tmp_path / "a", days=2, scale=0.02, seed=7)
    b = _gen(tmp_path / "b", days=2, scale=0.02, seed=7)
    _gen(tmp_path / "c", days=2, scale=0.02, seed=8)
    assert a == b
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_every_entity_has_a_file_per_day_and_counts_match(tmp_path):
    counts = _gen(tmp_path, days=3, scale=0.02, seed=1)
    for entity in config.entities():
        total = 0
        for offset in range(3):
            path = tmp_path / "landing" / entity.source / f"2026-01-0{offset + 1}" / entity.file_name
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
    # scale 0.02, seed 1: of 100 simulated accounts, 76 exist by the end of the third day
    assert counts["crm__accounts"] == 76
    # at least one rep per region; one of the four moves team on the second day: a second version
    assert counts["crm__reps"] == 5


def test_more_days_extend_the_same_history(tmp_path):
    _gen(tmp_path / "short", days=2, scale=0.02, seed=4)
    _gen(tmp_path / "long", days=4, scale=0.02, seed=4)
    for source in ("crm", "finance", "after_sales"):
        for day in ("2026-01-01", "2026-01-02"):
            assert _digest(tmp_path / "short" / "landing" / source / day) == _digest(
                tmp_path / "long" / "landing" / source / day
            )


def test_source_state_holds_every_change_in_order(tmp_path):
    _gen(tmp_path, days=3, scale=0.05, seed=2)
    events = [json.loads(x) for x in (tmp_path / "sources" / "crm" / "opportunities.jsonl").read_text().splitlines()]
    assert [e["visible_at"] for e in events] == sorted(e["visible_at"] for e in events)
    assert all(e["visible_at"] < "2026-01-04" for e in events)
    deletes = [e for e in events if e["op"] == "delete"]
    assert deletes and all(set(e["record"]) == {"opportunity_id"} for e in deletes)
    # the file feeds carry each record's latest version of the day; the state holds them all
    delivered = sum(
        1
        for day in ("2026-01-01", "2026-01-02", "2026-01-03")
        for _ in (tmp_path / "landing" / "crm" / day / "opportunities.jsonl").open()
    )
    assert len(events) - len(deletes) >= delivered


def test_opportunities_follow_the_stage_order(tmp_path):
    _gen(tmp_path, days=1, scale=0.02, seed=3)
    order = ["needs_analysis", "proposal", "negotiation", "contract", "closed_won"]
    stages: dict[str, list[tuple[str, str]]] = {}
    for line in (
        (tmp_path / "landing" / "crm" / "2026-01-01" / "opportunity_stage_history.jsonl").read_text().splitlines()
    ):
        row = json.loads(line)
        stages.setdefault(row["opportunity_id"], []).append((row["entered_at"], row["stage"]))
    assert stages
    for history in stages.values():
        names = [s for _, s in sorted(history)]
        open_part = [s for s in names if s != "closed_lost"]
        assert open_part == order[: len(open_part)]
        assert names.count("closed_lost") <= 1 and ("closed_lost" not in names or names[-1] == "closed_lost")


def test_erp_exports_gbk_csv_and_xlsx_in_the_drop_folder(tmp_path):
    counts = generate(start=START, days=2, scale=0.02, seed=3, locale="zh_CN", data_dir=tmp_path)
    drop = tmp_path / "drop" / "finance"
    assert sorted(p.name for p in drop.iterdir()) == [
        "fx_rates_20260101.csv",
        "fx_rates_20260102.csv",
        "invoices_20260101.csv",
        "invoices_20260102.csv",
        "payments_20260101.xlsx",
        "payments_20260102.xlsx",
        "product_costs_20260101.csv",
        "product_costs_20260102.csv",
    ]
    invoices = (drop / "invoices_20260101.csv").read_bytes()
    invoices.decode("gbk")  # GBK as a Chinese ERP writes it
    sheet = load_workbook(drop / "payments_20260101.xlsx", read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == config.entities_of("finance")[1].columns
    n_invoices = sum(
        len((drop / f"invoices_2026010{d}.csv").read_text(encoding="gbk").splitlines()) - 1 for d in (1, 2)
    )
    assert n_invoices == counts["finance__invoices"]
    assert not (tmp_path / "landing").exists()  # nothing pretends to be extracted already


def test_chinese_locale_names_and_regions(tmp_path):
    _gen(tmp_path, days=1, scale=0.02, seed=3, locale="zh_CN")
    reps = [
        json.loads(x)
        for x in (tmp_path / "landing" / "crm" / "2026-01-01" / "reps.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert {r["region"] for r in reps} == {"华东", "华南", "华北", "西南"}


def _latest(root, source, entity, key, days=3):
    """Each record's latest delivered version across the day feeds."""
    latest = {}
    for offset in range(days):
        path = root / "landing" / source / (START + timedelta(days=offset)).isoformat() / f"{entity}.jsonl"
        if source == "finance":
            with path.with_suffix(".csv").open(newline="") as f:
                rows = list(csv.DictReader(f))
        else:
            rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            latest[row[key]] = row
    return latest


def test_new_entities_keep_the_first_release_records_as_they_were(tmp_path):
    """Later additions draw from their own random streams: the original entities do not move."""
    _gen(tmp_path, days=2, scale=0.05, seed=11)
    accounts = _latest(tmp_path, "crm", "accounts", "account_id", days=2)
    targets = _latest(tmp_path, "crm", "targets", "target_id", days=2)
    assert (len(accounts), len(targets)) == (209, 156)  # as before activities, leads, contracts, FX


def test_activities_leads_and_contracts_hang_together(tmp_path):
    _gen(tmp_path, days=3, scale=0.05, seed=5)
    opportunities = _latest(tmp_path, "crm", "opportunities", "opportunity_id")
    activities = _latest(tmp_path, "crm", "activities", "activity_id")
    assert {a["activity_type"] for a in activities.values()} == {"visit", "call", "meeting"}
    per_deal = Counter(a["opportunity_id"] for a in activities.values())
    assert per_deal[None] > 0  # account care outside any deal
    by_stage = defaultdict(list)
    for oid, opp in opportunities.items():
        by_stage[opp["stage"]].append(per_deal[oid])
    mean = {stage: sum(n) / len(n) for stage, n in by_stage.items()}
    assert mean["closed_won"] > 2 * mean["needs_analysis"]  # won deals went through every stage
    leads = _latest(tmp_path, "crm", "leads", "lead_id")
    assert {lead["status"] for lead in leads.values()} == {"new", "working", "converted", "disqualified"}
    for lead in leads.values():
        assert (lead["status"] == "converted") == (lead["converted_at"] is not None)
        if lead["converted_opportunity_id"] in opportunities:
            opp = opportunities[lead["converted_opportunity_id"]]
            assert (opp["lead_source"], opp["account_id"]) == (lead["source_channel"], lead["converted_account_id"])
            assert lead["created_at"] < lead["converted_at"] == opp["created_at"]
    contracts = _latest(tmp_path, "after_sales", "service_contracts", "contract_id")
    assert {c["status"] for c in contracts.values()} == {"active", "renewed", "lapsed"}
    for c in contracts.values():
        assert c["start_date"] < c["end_date"]
        previous = contracts.get(c["renewed_from_contract_id"])
        if previous:  # a renewal starts the day after the contract it renews ends
            assert previous["account_id"] == c["account_id"] and previous["status"] == "renewed"
            assert date.fromisoformat(c["start_date"]) == date.fromisoformat(previous["end_date"]) + timedelta(days=1)


def test_fx_rates_cover_every_currency_every_day_and_foreign_deals_use_them(tmp_path):
    _gen(tmp_path, days=2, scale=0.05, seed=6)
    rates = _latest(tmp_path, "finance", "fx_rates", "fx_rate_id", days=2)
    by_day = defaultdict(dict)
    for r in rates.values():
        by_day[r["rate_date"]][r["currency"]] = Decimal(r["rate_to_cny"])
    assert all(set(day) == set(config.currencies()) and day["CNY"] == 1 for day in by_day.values())
    assert "2026-01-02" in by_day and "2025-01-01" in by_day and "2026-01-03" not in by_day
    assert Decimal("6") < by_day["2026-01-02"]["USD"] < Decimal("8.5")
    opportunities = _latest(tmp_path, "crm", "opportunities", "opportunity_id", days=2)
    currencies = Counter(o["currency"] for o in opportunities.values())
    assert currencies["CNY"] > sum(currencies.values()) / 2 and {"USD", "EUR", "HKD"} <= set(currencies)
    invoices = _latest(tmp_path, "finance", "invoices", "invoice_id", days=2)
    for invoice in invoices.values():  # billed in the deal's currency
        if invoice["opportunity_id"] in opportunities:
            assert invoice["currency"] == opportunities[invoice["opportunity_id"]]["currency"]
    costs = _latest(tmp_path, "finance", "product_costs", "product_cost_id", days=2)
    assert {c["product_line"] for c in costs.values()} == {"software", "hardware", "services"}
    assert all(0 < Decimal(c["cost_rate"]) < 1 for c in costs.values())


def test_a_rep_changes_team_as_a_new_version(tmp_path):
    _gen(tmp_path, days=2, scale=0.05, seed=11)
    crm = tmp_path / "landing" / "crm"
    first, second = ([json.loads(x) for x in (crm / d / "reps.jsonl").read_text().splitlines()] for d in DAYS_1_2)
    assert len(second) == 1
    before = next(r for r in first if r["rep_id"] == second[0]["rep_id"])
    assert second[0]["team"] != before["team"] and second[0]["updated_at"] > before["updated_at"]


# -- extending a data dir's world (world.json) -------------------------------------------------
DAY_4 = START + timedelta(days=3)
WORLD = dict(scale=0.02, seed=4, dirty=0.02)  # dirty: spoiled file rows too, drawn per entity and day


def _day_files(root, day: date) -> dict[str, bytes]:
    """A day's drop and landing files by path."""
    paths = [*root.glob(f"drop/*/*_{day:%Y%m%d}.*"), *root.glob(f"landing/*/{day.isoformat()}/*")]
    return {str(path.relative_to(root)): _content(path) for path in paths}


def _json(path):
    return json.loads(path.read_text())


def test_an_extension_keeps_the_days_delivered_and_is_the_longer_world(tmp_path):
    ext = tmp_path / "ext"
    _gen(ext, days=3, **WORLD)
    files = [p for p in [*ext.glob("drop/**/*"), *ext.glob("landing/**/*")] if p.is_file()]
    delivered = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    generate(start=DAY_4, days=1, data_dir=ext, landing_files=True, **WORLD)
    _gen(tmp_path / "three", days=3, **WORLD)
    _gen(tmp_path / "four", days=4, **WORLD)

    # days 1-3 are not rewritten: the very files delivered, byte for byte (workbooks too)
    assert delivered and all((p.read_bytes(), p.stat().st_mtime_ns) == v for p, v in delivered.items())
    for offset in range(3):
        day = START + timedelta(days=offset)
        assert _day_files(ext, day) == _day_files(tmp_path / "three", day) == _day_files(tmp_path / "four", day)
    assert _day_files(ext, DAY_4) == _day_files(tmp_path / "four", DAY_4) and _day_files(ext, DAY_4)
    assert _digest(ext / "sources") == _digest(tmp_path / "four" / "sources")
    # the per-(entity, day) streams were exercised: file rows were spoiled on the days compared
    planted = _json(ext / "planted.json")
    assert sum(kinds.get("malformed", 0) + kinds.get("duplicate_key", 0) for kinds in planted.values()) > 0
    # planted.json counts all four days: the 4-day world's counts, at least the 3-day one's
    assert planted == _json(tmp_path / "four" / "planted.json")
    three = _json(tmp_path / "three" / "planted.json")
    assert all(planted[t][k] >= n for t, kinds in three.items() for k, n in kinds.items())
    world = _json(ext / "world.json")
    assert (world["origin"], world["last_day"], world["history_days"]) == ("2026-01-01", "2026-01-04", 365)


def test_the_users_next_day_command_extends_the_world(tmp_path, capsys):
    """`salesdw generate --start 2026-01-04 --days 1 --history-days 1100` after `make demo`'s 3 days."""
    world = dict(scale=0.02, seed=9, history_days=1100)
    _gen(tmp_path / "ext", days=3, **world)
    capsys.readouterr()
    generate(start=DAY_4, days=1, data_dir=tmp_path / "ext", landing_files=True, **world)
    note = capsys.readouterr().out
    # history from 2026-01-01 - 1100 days, not from 2026-01-04 - 1100 days
    assert "extending the world from 2026-01-01" in note and "history from 2022-12-28 (not 2022-12-31" in note
    _gen(tmp_path / "four", days=4, **world)
    assert _day_files(tmp_path / "ext", DAY_4) == _day_files(tmp_path / "four", DAY_4)
    assert _json(tmp_path / "ext" / "world.json")["history_days"] == 1100


def test_another_seed_is_a_new_world(tmp_path, capsys):
    _gen(tmp_path / "a", days=3, scale=0.02, seed=4)
    capsys.readouterr()
    generate(start=DAY_4, days=1, scale=0.02, seed=5, data_dir=tmp_path / "a", landing_files=True)
    assert "seed 5 (the world's: 4): a new world from 2026-01-04 replaces it" in capsys.readouterr().out
    generate(start=DAY_4, days=1, scale=0.02, seed=5, data_dir=tmp_path / "b", landing_files=True)
    # the new world's first day carries its whole history, as any first generation does
    assert _day_files(tmp_path / "a", DAY_4) == _day_files(tmp_path / "b", DAY_4)
    world = _json(tmp_path / "a" / "world.json")
    assert (world["origin"], world["last_day"], world["seed"]) == ("2026-01-04", "2026-01-04", 5)


def test_an_extension_past_the_simulated_year_is_refused(tmp_path):
    _gen(tmp_path, days=3, scale=0.02, seed=4)
    before = (tmp_path / "world.json").read_text()
    with pytest.raises(WorldError, match="simulated through 2026-12-31; 2027-01-01 is past it"):
        generate(start=date(2026, 12, 31), days=2, scale=0.02, seed=4, data_dir=tmp_path)
    assert (tmp_path / "world.json").read_text() == before


def _opportunity_owners(root, day: date) -> set[str]:
    """Owners in the CRM state's opportunity versions that became visible on `day`."""
    events = [json.loads(line) for line in (root / "sources" / "crm" / "opportunities.jsonl").open()]
    return {e["record"]["owner_rep_id"] for e in events if e["op"] == "upsert" and e["visible_at"][:10] == str(day)}


@pytest.mark.parametrize("kind", ["duplicate_keys", "unknown_rep"])
def test_a_break_on_an_extension_breaks_the_new_day_and_stays_there(kind, tmp_path):
    _gen(tmp_path, days=3, scale=0.05, seed=4)
    generate(start=DAY_4, days=1, scale=0.05, seed=4, data_dir=tmp_path, landing_files=True, break_kind=kind)
    landing = tmp_path / "landing"
    if kind == "duplicate_keys":
        for day, duplicated in [("2026-01-03", False), ("2026-01-04", True)]:
            with (landing / "finance" / day / "invoices.csv").open(newline="") as f:
                ids = [row["invoice_id"] for row in csv.DictReader(f)]
            assert ids and (len(set(ids)) < len(ids)) == duplicated, day
    else:
        assert "R99999" not in _opportunity_owners(tmp_path, START + timedelta(days=2))
        assert _opportunity_owners(tmp_path, DAY_4) == {"R99999"}
    assert _json(tmp_path / "planted.json")["break"]["day"] == "2026-01-04"
    # one more day, no break: day 4 keeps its break, in the API state too, and planted.json says so
    generate(start=DAY_4 + timedelta(days=1), days=1, scale=0.05, seed=4, data_dir=tmp_path, landing_files=True)
    assert _json(tmp_path / "planted.json")["break"]["day"] == "2026-01-04"
    assert _json(tmp_path / "world.json")["breaks"] == [{"kind": kind, "day": "2026-01-04"}]
    if kind == "unknown_rep":
        assert _opportunity_owners(tmp_path, DAY_4) == {"R99999"}
        assert "R99999" not in _opportunity_owners(tmp_path, DAY_4 + timedelta(days=1))
