"""`salesdw check-source`: does a sample export fit the deployment's config, before any run?

The sample goes through what a night does to it (extract/transcode.py: encoding, line ends, XLSX;
extract/mapping.py: the deployment's columns, constants and values), then each record is held
against what would reject it later, without a warehouse:
- the loader's contract (sources.yml): the key and `required` columns filled, numbers and dates in
  their declared formats, non-negative amounts, an accepted currency;
- the vocabulary staging checks (its relationships tests to the vocabulary seeds: a stage, a product
  line, a currency the business does not list fails the night in dbt), compared as staging does,
  case-insensitively.
Findings are grouped by column, kind and value, with a count and the first line, so ten thousand
deals in a stage nobody mapped are one line of the report.
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from salesdw import config, deployment, paths
from salesdw.config import Entity
from salesdw.errors import RefusedDeliveryError
from salesdw.extract.mapping import to_contract_shape
from salesdw.load.readers import READERS, Blank

ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ].*)?$")
SHOWN = 25  # findings listed; the rest are counted


@dataclass
class Report:
    entity: Entity
    origin: str
    records: int = 0
    refused: str | None = None  # the whole file would be refused: why
    findings: Counter = field(default_factory=Counter)  # (column, problem, value) -> records
    first_line: dict = field(default_factory=dict)

    def add(self, column: str, problem: str, value: str | None, line: int | None) -> None:
        key = (column, problem, value)
        self.findings[key] += 1
        self.first_line.setdefault(key, line)

    @property
    def fits(self) -> bool:
        return self.refused is None and not self.findings

    def text(self) -> str:
        head = f"{self.entity.source}.{self.entity.name}: {self.origin}"
        if self.refused:
            return f"{head}: would be refused\n  {self.refused}"
        if self.fits:
            return f"{head}: fits ({self.records:,} records)"
        lines = [f"{head}: {sum(self.findings.values()):,} finding(s) in {self.records:,} records"]
        for (column, problem, value), count in self.findings.most_common(SHOWN):
            shown = "" if value is None else f" {value!r}"
            first = self.first_line[column, problem, value]
            lines.append(f"  {column}:{shown} {problem} ({count:,} record(s), first at line {first})")
        if len(self.findings) > SHOWN:
            lines.append(f"  ... and {len(self.findings) - SHOWN} more kinds")
        return "\n".join(lines)


def vocabulary_columns(entity: Entity) -> dict[str, tuple[str, str]]:
    """column -> (vocabulary file, its key column), from staging's relationships tests to the seeds."""
    seeds = {p.stem for p in deployment.vocabulary_dir().glob("*.csv")}
    found = {}
    for path in (paths.DBT_PROJECT_DIR / "models" / "staging" / entity.source).glob("_*__models.yml"):
        for model in yaml.safe_load(path.read_text())["models"]:
            if model["name"] != f"stg_{entity.source}__{entity.name}":
                continue
            for column in model.get("columns", []):
                for test in column.get("data_tests", []):
                    spec = test.get("relationships") if isinstance(test, dict) else None
                    args = (spec or {}).get("arguments", spec or {})
                    target = re.fullmatch(r"ref\('(\w+)'\)", str(args.get("to", "")))
                    if target and target[1] in seeds and column["name"] in entity.columns:
                        found[column["name"]] = (target[1], args["field"])
    return found


def _vocabulary(name: str, key: str) -> set[str]:
    with (deployment.vocabulary_dir() / f"{name}.csv").open(newline="", encoding="utf-8") as f:
        return {row[key].strip().lower() for row in csv.DictReader(f)}


def check_file(entity: Entity, sample: Path, day: date) -> Report:
    report = Report(entity, str(sample))
    with tempfile.TemporaryDirectory(prefix="salesdw-check-") as tmp:
        landed = Path(tmp) / f"{entity.name}.csv"
        try:
            to_contract_shape(entity, sample, landed, day, str(sample))
            records = list(_records(entity, landed, str(sample), report))
        except RefusedDeliveryError as exc:
            report.refused = str(exc).replace(str(landed), str(sample))
            return report
    _check(entity, records, report)
    return report


def _records(entity: Entity, landed: Path, origin: str, report: Report):
    for _, line, values, raw_text, reason in READERS[entity.format](entity, landed, origin):
        if reason is Blank:
            continue
        report.records += 1
        if values is None:
            report.add("(record)", f"{reason[0]}: {reason[1]}", None, line)
            continue
        yield line, dict(zip(entity.columns, values))


def _check(entity: Entity, records: list, report: Report) -> None:
    types, formats = dict(entity.types), dict(entity.date_formats)
    patterns = {c: re.compile(config.date_pattern(f)[0]) for c, f in formats.items()}
    vocab = {c: (name, _vocabulary(name, key)) for c, (name, key) in vocabulary_columns(entity).items()}
    currencies = {c.upper() for c in config.currencies()}
    for line, row in records:
        for column in (entity.primary_key, *entity.required):
            if row[column] is None:
                report.add(column, "empty (the contract requires a value)", None, line)
        for column, type_name in types.items():
            value = row[column]
            if value is None:
                continue
            if type_name == "date" and not (patterns.get(column) or re.compile(r"^\d{4}-\d{2}-\d{2}$")).match(value):
                report.add(column, f"not a date in {formats.get(column, config.ISO)}", value, line)
            elif type_name == "timestamptz" and not ISO_TIMESTAMP.match(value):
                report.add(column, "not an ISO 8601 timestamp (YYYY-MM-DD[THH:MM:SS...])", value, line)
            elif type_name in ("numeric", "integer") and not _number(value, type_name):
                report.add(column, f"not a valid {type_name}", value, line)
        for column in entity.non_negative:
            if row[column] is not None and _number(row[column], "numeric") and Decimal(row[column]) < 0:
                report.add(column, "negative (expected >= 0)", row[column], line)
        if entity.currency and (row[entity.currency] or "").upper() not in currencies:
            report.add(
                entity.currency,
                f"unknown currency (expected one of {', '.join(sorted(currencies))})",
                row[entity.currency],
                line,
            )
        for column, (name, accepted) in vocab.items():
            if column != entity.currency and row[column] is not None and row[column].lower() not in accepted:
                report.add(
                    column, f"not in the vocabulary ({name}.csv): map it with `values` or add it", row[column], line
                )


def _number(value: str, type_name: str) -> bool:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    return number.is_finite() and (type_name != "integer" or number == number.to_integral_value())
