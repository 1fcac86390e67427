"""A deployment's own exports onto the contract, by configuration (config.py, extract/mapping.py)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from salesdw import config
from salesdw.extract.mapping import MappingError, remap
from salesdw.load.readers import FeedFormatError

DAY = date(2017, 12, 31)


CRM_FILES = """
sources:
  crm:
    delivery: files
    format: csv
    drop_folder: exports
    keep_files: true
    entities:
"""
OPPORTUNITIES = (
    CRM_FILES
    + """\
      reps: {file: team.csv, columns: {rep_id: agent}}
      opportunities:
        file: deals_{YYYYMMDD}.csv
        snapshot: true
        columns:
          opportunity_id: 商机编号
          owner_rep_id: agent
          amount: value
          stage: deal_stage
          account_id: account
          product_line: product
          lead_source: ~
          created_at: engaged
          expected_close_date: ~
          closed_at: ~
        constants: {currency: USD, updated_at: "{day}"}
        values: {stage: {Won: won, Lost: lost}, product_line: {GTXPro: GTX Pro}}
"""
)


def test_a_deployment_configures_only_what_it_lists(deployed, tmp_path):
    found = deployed(OPPORTUNITIES)
    assert [(e.source, e.name) for e in found] == [("crm", "reps"), ("crm", "opportunities")]
    deals = config.entity("crm", "opportunities")
    assert (deals.delivery, deals.drop_dir) == ("files", str(tmp_path / "exports"))
    assert deals.file_pattern == "deals_{YYYYMMDD}.csv"
    assert deals.snapshot and deals.keep_files and deals.mapped
    # a reference to an entity the deployment does not have is not checked
    assert dict(deals.references) == {"owner_rep_id": "crm.reps"}
    # the contract is whole: its raw tables exist whatever the deployment has
    assert len(config.contract()) == 14


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (OPPORTUNITIES.replace("lead_source: ~", "lead_sauce: ~"), "columns names lead_sauce, not a column"),
        (OPPORTUNITIES.replace("crm:", "cmr:"), "source 'cmr' is not in the contract"),
        (OPPORTUNITIES.replace("snapshot: true", "snapshots: true"), "unknown key.*snapshots"),
        (OPPORTUNITIES.replace("opportunity_id: 商机编号", "opportunity_id: ~"), "the key opportunity_id must come"),
    ],
)
def test_a_config_mistake_is_named_with_the_file_and_entity(deployed, text, message):
    with pytest.raises(config.ConfigError, match=message):
        deployed(text)


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return path


HEADER = ["商机编号", "agent", "product", "account", "deal_stage", "engaged", "value"]


def test_columns_constants_and_values_map_onto_the_contract_line_for_line(deployed, tmp_path):
    deployed(OPPORTUNITIES)
    deals = config.entity("crm", "opportunities")
    src = _write(
        tmp_path / "in.csv",
        [
            HEADER,
            ["O1", "Moses Frase", "GTXPro", "Cancity", "Won", "2016-10-20", "1054"],
            [],  # a blank line: the records below keep their delivered line numbers
            ["O2", "Ann", " GTX Basic ", "", "Lost", "2016-10-25", "0"],
            ["O3", "Ann", "MG Special"],  # malformed: written back for the loader to reject
        ],
    )
    remap(deals, src, tmp_path / "out.csv", DAY, "exports/deals_20171231.csv")
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").split("\n")
    assert lines[0].split(",") == list(deals.columns)
    rows = {i: dict(zip(deals.columns, r)) for i, r in enumerate(csv.reader(lines[1:-1]), start=1)}
    first = rows[1]
    assert (first["opportunity_id"], first["owner_rep_id"], first["product_line"], first["stage"]) == (
        "O1",
        "Moses Frase",
        "GTX Pro",
        "won",
    )
    assert (first["amount"], first["currency"], first["updated_at"], first["lead_source"]) == (
        "1054",
        "USD",
        "2017-12-31",
        "",
    )
    assert lines[2] == ""  # the blank line stays a blank line
    assert rows[3]["product_line"] == "GTX Basic" and rows[3]["account_id"] == ""
    assert next(csv.reader([lines[4]])) == ["O3", "Ann", "MG Special"]


def test_a_header_the_mapping_needs_is_named_when_missing(deployed, tmp_path):
    deployed(OPPORTUNITIES)
    src = _write(tmp_path / "in.csv", [[h for h in HEADER if h != "deal_stage"], ["O1"]])
    with pytest.raises(MappingError, match=r"deals\.csv line 1: header lacks column\(s\) 'deal_stage' \(for stage\)"):
        remap(config.entity("crm", "opportunities"), src, tmp_path / "out.csv", DAY, "deals.csv")


def test_an_unclosed_quote_is_refused_not_swallowed(deployed, tmp_path):
    deployed(OPPORTUNITIES)
    src = tmp_path / "in.csv"
    src.write_text(",".join(HEADER) + '\nO1,Ann,"GTX Pro,Cancity,Won,2016-10-20,1\nO2,Ann,MG,x,Won,2016-10-20,2\n')
    with pytest.raises(FeedFormatError, match="line 2: a quoted field opened on this line is never closed"):
        remap(config.entity("crm", "opportunities"), src, tmp_path / "out.csv", DAY, "deals.csv")


def test_check_source_lists_what_does_not_fit_before_any_run(deployed, tmp_path, capsys):
    from salesdw.cli import main

    deployed(OPPORTUNITIES.replace("Won: won, Lost: lost", "Won: closed_won, Lost: closed_lost"))
    good = ["O1", "Ann", "software", "Cancity", "Won", "2016-10-20", "1054"]
    sample = _write(
        tmp_path / "deals.csv",
        [
            HEADER,
            good,
            ["O2", "Ann", "Software", "Cancity", "Negotiating", "2016-10-21", "10"],  # a stage nobody mapped
            ["O3", "", "hardware", "Cancity", "Lost", "21.10.2016", "-5"],  # no owner, a dotted date, negative
            ["O4", "Ann", "GTXPro", "", "Won", "2016-10-22", "abc"],
        ],
    )
    assert main(["check-source", "crm", "opportunities", "--file", str(sample), "--date", "2017-12-31"]) == 1
    out = capsys.readouterr().out
    assert "4 records" in out
    for finding in (
        "stage: 'Negotiating' not in the vocabulary (opportunity_stages.csv)",
        "owner_rep_id: empty (the contract requires a value) (1 record(s), first at line 4)",
        "created_at: '21.10.2016' not an ISO 8601 timestamp",
        "amount: '-5' negative",
        "amount: 'abc' not a valid numeric (1 record(s), first at line 5)",
        "product_line: 'GTX Pro' not in the vocabulary (product_lines.csv)",
    ):
        assert finding in out, out
    assert "'software'" not in out and "'Software'" not in out  # staging compares lower-cased

    _write(sample, [HEADER, good])
    assert main(["check-source", "crm", "opportunities", "--file", str(sample), "--date", "2017-12-31"]) == 0
    assert "fits (1 records)" in capsys.readouterr().out


SNAPSHOT = (
    CRM_FILES
    + """\
      accounts:
        file: accounts.csv
        snapshot: true
        columns: {account_id: account, account_name: account, industry: sector, region: ~, segment: ~,
                  owner_rep_id: ~, acquisition_channel: ~, created_at: ~}
        constants: {updated_at: "{day}"}
"""
)


def _land(entity, day, url, landing, archive):
    from salesdw.extract.files import extract_files
    from salesdw.orchestrate.tasks import load

    extracted = extract_files(entity, day, warehouse_url=url, landing=landing, archive_dir=archive)
    return load(entity.source, {"source": entity.source, **extracted.__dict__}, day, url=url)


def test_a_full_snapshot_yields_the_deletions_since_the_last_one(deployed, tmp_path, fresh_db):
    """A read-only export folder, one file re-exported every day: what left it was deleted."""
    import psycopg

    deployed(SNAPSHOT)
    accounts = config.entity("crm", "accounts")
    exports, landing, archive = tmp_path / "exports", tmp_path / "landing", tmp_path / "archive"
    exports.mkdir()
    export = exports / "accounts.csv"
    _write(export, [["account", "sector"], ["Acme", "retail"], ["Betatech", "medical"], ["Cancity", "retail"]])
    first = _land(accounts, date(2017, 12, 30), fresh_db, landing, archive)
    assert first[0]["rows_loaded"] == 3 and first[1]["rows_loaded"] == 0  # nothing before it: nothing deleted
    assert export.is_file()  # keep_files: copied, never moved
    _write(export, [["account", "sector"], ["Acme", "retail"], ["Cancity", "medical"]])
    second = _land(accounts, date(2017, 12, 31), fresh_db, landing, archive)
    assert [b["rows_loaded"] for b in second] == [2, 1]
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("select account_id, deleted_at, _batch_date from raw.crm__accounts__deleted").fetchall()
        assert rows == [("Betatech", "2017-12-31", date(2017, 12, 31))]
    # re-running the day rewrites the same listing, nothing twice
    again = _land(accounts, date(2017, 12, 31), fresh_db, landing, archive)
    assert again[0]["status"] == "unchanged"
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from raw.crm__accounts__deleted").fetchone() == (1,)


def test_numbers_in_the_exports_own_format_become_the_contracts(deployed, tmp_path):
    """1.234,56 (a European ERP) or 1,234.56 (thousands separators): declared, never guessed."""
    text = OPPORTUNITIES.replace(
        "    keep_files: true\n", "    keep_files: true\n    number_format: {decimal: ',', thousands: '.'}\n"
    )
    deployed(text)
    src = _write(tmp_path / "in.csv", [HEADER, ["O1", "Ann", "software", "A1", "Won", "2016-10-20", "1.234,56"]])
    remap(config.entity("crm", "opportunities"), src, tmp_path / "out.csv", DAY, "deals.csv")
    row = dict(zip(*csv.reader((tmp_path / "out.csv").read_text().splitlines())))
    assert row["amount"] == "1234.56" and row["opportunity_id"] == "O1"  # only numeric columns change
    with pytest.raises(config.ConfigError, match="number_format"):
        deployed(text.replace("thousands: '.'", "thousands: ','"))


def test_a_json_lines_drop_maps_and_lands_like_a_csv_one(deployed, tmp_path, fresh_db):
    """JSON lines in a drop folder (a service desk's export), mapped from its own nested fields."""
    import json

    import psycopg

    deployed(
        "sources:\n  crm:\n    delivery: files\n    format: jsonl\n    drop_folder: exports\n    entities:\n"
        "      reps:\n        file: users_{YYYYMMDD}.jsonl\n"
        "        columns: {rep_id: id, full_name: profile.name, team: ~, region: profile.region, email: ~,"
        " manager_id: ~, hire_date: ~, is_active: ~}\n"
        '        constants: {updated_at: "{day}"}\n'
    )
    reps = config.entity("crm", "reps")
    (tmp_path / "exports").mkdir()
    lines = [{"id": "R1", "profile": {"name": "Ann", "region": "East"}}, {"id": "R2", "profile": {"name": "Bo"}}]
    (tmp_path / "exports" / "users_20171231.jsonl").write_text(
        json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n{not json\n"
    )
    batches = _land(reps, DAY, fresh_db, tmp_path / "landing", tmp_path / "archive")
    assert (batches[0]["rows_read"], batches[0]["rows_loaded"], batches[0]["rows_rejected"]) == (3, 2, 1)
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("select rep_id, full_name, region, updated_at, _line from raw.crm__reps order by 1")
        assert rows.fetchall() == [("R1", "Ann", "East", "2017-12-31", 1), ("R2", "Bo", None, "2017-12-31", 3)]
        assert conn.execute("select origin from raw._rejected").fetchone()[0].endswith("users_20171231.jsonl:4")
