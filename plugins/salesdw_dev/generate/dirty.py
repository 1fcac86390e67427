"""Plant realistic bad records in the feeds (`salesdw generate --dirty RATE`).

Each delivered record is spoiled with probability RATE, in a way the entity allows: a value of the
wrong type, a negative amount, an unknown currency, a reference to a parent that does not exist
(any source); a malformed line or a duplicate
key (file exports only: an API always returns well-formed, unique records per page). Spoiled field
values are set on the record's version itself, so the file feeds and the API state agree. What was
planted is counted per raw table and kind, so tests can check every planted row was rejected.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date

from salesdw.config import Entity

BAD_VALUES = {
    "numeric": ["12,345.00", "abc", "1.2.3"],
    "integer": ["five", "4.5"],
    "date": ["2026-13-45", "31/02/2026", "not-a-date"],
    "timestamptz": ["2026-02-30T10:00:00Z", "not-a-time"],
    "boolean": ["maybe"],
}
PLANTED_KEY = "__planted__"


class Planter:
    def __init__(self, rate: float, seed: int):
        if not 0 <= rate < 1:
            raise ValueError(f"--dirty must be a share between 0 and 1, got {rate}")
        self.rate = rate
        self.seed = seed
        # spoil_fields walks the whole simulated world, which does not depend on the days delivered,
        # so one stream serves it; file rows get a stream per entity and day (spoil_file_rows)
        self.rng = random.Random(seed)
        self.planted: dict[str, Counter] = defaultdict(Counter)

    def spoil_fields(self, entity: Entity, fields: dict) -> dict:
        """A spoiled copy of one record version's fields (or the same dict, most of the time)."""
        if not self.rate or fields is None or self.rng.random() >= self.rate:
            return fields
        kinds = ["wrong_type"] if entity.types else []
        if entity.non_negative:
            kinds.append("negative_amount")
        if entity.currency:
            kinds.append("unknown_currency")
        if any(fields.get(column) for column, _ in entity.references):
            kinds.append("orphan_reference")
        if not kinds:
            return fields
        kind = self.rng.choice(kinds)
        spoiled = dict(fields)
        if kind == "wrong_type":
            column, type_name = self.rng.choice(entity.types)
            spoiled[column] = self.rng.choice(BAD_VALUES[type_name])
        elif kind == "negative_amount":
            column = self.rng.choice(entity.non_negative)
            spoiled[column] = -abs(fields[column]) if fields[column] else -1
        elif kind == "unknown_currency":
            spoiled[entity.currency] = self.rng.choice(["XYZ", "RMB", "usd$"])
        else:  # the same id shape, a number the parent never reaches: A00421 -> A99999
            column = self.rng.choice([c for c, _ in entity.references if fields.get(c)])
            value = str(fields[column])
            prefix = value.rstrip("0123456789")
            spoiled[column] = prefix + "9" * (len(value) - len(prefix))
        spoiled[PLANTED_KEY] = kind
        return spoiled

    def spoil_file_rows(self, entity: Entity, rows: list[dict], day: date) -> list[dict]:
        """Rows of one day's file export: also malformed lines and duplicate keys.

        Each (entity, day) draws from a stream of its own: a day's export comes out the same
        however many days are generated, so an extension leaves the days delivered as they were.
        """
        rng = random.Random(f"{self.seed}/{entity.name}/{day.isoformat()}")
        out = []
        for row in rows:
            out.append(row)
            if self.rate and rng.random() < self.rate:
                if rng.random() < 0.5:
                    out.append(
                        {
                            "__raw__": ",".join(str(row.get(c) or "") for c in entity.columns[:3]),
                            PLANTED_KEY: "malformed",
                        }
                    )
                else:
                    out.append(dict(row, **{PLANTED_KEY: "duplicate_key"}))
        return out

    def count(self, entity: Entity, rows: list[dict]) -> None:
        for row in rows:
            if PLANTED_KEY in row:
                self.planted[entity.raw_table][row[PLANTED_KEY]] += 1
