"""A seeded simulation of a mid-size company's sales, finance and service history.

Every record is a list of versions `(visible_at, fields)`: the moment the change became visible in
the source system and the record as it then was (`fields` None: deleted in the source). A feed for
a day carries each record's latest version that became visible that day, as an incremental API or a
daily export would. Some changes arrive late: visible a day or more after their `updated_at`.

The simulation always runs whole years past `start`, so a longer `--days` extends the same history
rather than drawing a different one. Scale 1 is about 50 reps, 5,000 accounts and 20,000
opportunities a year. All amounts are in CNY, to the cent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from faker import Faker

STAGES = ["needs_analysis", "proposal", "negotiation", "contract", "closed_won"]
ADVANCE_PROBABILITY = [0.75, 0.7, 0.65, 0.85]  # chance to move from stage k to k+1
PRODUCT_LINES = ["software", "hardware", "services"]
SEGMENTS = ["enterprise", "mid_market", "smb"]
CHANNELS = ["referral", "website", "trade_show", "partner", "outbound"]
PRIORITIES = ["low", "normal", "high", "urgent"]
LOCALE_TEXT = {
    "en_US": {
        "regions": ["East", "South", "North", "West"],
        "team": "{region} Team {n}",
        "industries": ["manufacturing", "retail", "finance", "healthcare", "education", "logistics"],
    },
    "zh_CN": {
        "regions": ["华东", "华南", "华北", "西南"],
        "team": "{region}{n}组",
        "industries": ["制造业", "零售", "金融", "医疗", "教育", "物流"],
    },
}
CENT = Decimal("0.01")
TAX_RATE = Decimal("0.13")

DELETE_SHARE = 0.01  # of open or lost opportunities deleted in the CRM later
LATE_SHARE = 0.02  # of changes that reach the source's API or export a day or more late
LATE_CREATION = {"payments", "surveys"}  # records nothing refers to: they may even be created late
Version = tuple[datetime, dict | None]


@dataclass
class World:
    """Records per entity name; each record is its list of versions in time order."""

    start: date
    days: int
    rng: random.Random
    records: dict[str, list[list[Version]]] = field(default_factory=dict)

    @property
    def end(self) -> datetime:
        """The end of the last delivered day: feeds and source state stop here."""
        return datetime.combine(self.start + timedelta(days=self.days), time(), UTC)

    @property
    def horizon_end(self) -> datetime:
        """The end of the simulated span: whole years past start, whatever `days` is."""
        years = max(1, -(-self.days // 365))
        return datetime.combine(self.start + timedelta(days=365 * years), time(), UTC)

    def add(self, entity: str, versions: list[Version]) -> None:
        # Changes may reach the API or export late. A creation only where nothing refers to the record
        # (payments, surveys): a child never shows up before its parent in one source's own data.
        first = 0 if entity in LATE_CREATION else 1
        shifted = versions[:first] + [
            (ts + timedelta(hours=self.rng.uniform(24, 72)) if self.rng.random() < LATE_SHARE else ts, fields)
            for ts, fields in versions[first:]
        ]
        # a late change shows up no later than the change after it: the source shows current state
        for i in range(len(shifted) - 2, -1, -1):
            if shifted[i][0] > shifted[i + 1][0]:
                shifted[i] = (shifted[i + 1][0], shifted[i][1])
        kept = [(ts, fields) for ts, fields in shifted if ts < self.horizon_end]
        if kept:
            self.records.setdefault(entity, []).append(kept)


def _iso(ts: datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def _money(value: float | Decimal) -> Decimal:
    return Decimal(value).quantize(CENT)


class Simulation:
    def __init__(self, *, scale: float, start: date, days: int, history_days: int, locale: str, seed: int):
        if locale not in LOCALE_TEXT:
            raise ValueError(f"locale must be one of {sorted(LOCALE_TEXT)}, got {locale!r}")
        self.rng = random.Random(seed)
        self.fake = Faker(locale)
        self.fake.seed_instance(seed)
        self.text = LOCALE_TEXT[locale]
        self.scale = scale
        self.world = World(start=start, days=days, rng=random.Random(seed + 1))
        self.history_start = datetime.combine(start - timedelta(days=history_days), time(), UTC)
        self.span_days = history_days + (self.world.horizon_end.date() - start).days

    # -- helpers ---------------------------------------------------------------------------
    def _count(self, per_scale_unit: float, per_year: bool = False) -> int:
        n = per_scale_unit * self.scale * (self.span_days / 365 if per_year else 1)
        return max(1, round(n))

    def _moment(self, lo: datetime, hi: datetime) -> datetime:
        seconds = int((hi - lo).total_seconds())
        return (lo + timedelta(seconds=self.rng.randrange(max(seconds, 1)))).replace(microsecond=0)

    def _after(self, ts: datetime, min_hours: float, max_hours: float) -> datetime:
        return (ts + timedelta(hours=self.rng.uniform(min_hours, max_hours))).replace(microsecond=0)

    # -- entities --------------------------------------------------------------------------
    def run(self) -> World:
        self.reps()
        self.accounts()
        self.opportunities()
        self.targets()
        self.tickets()
        return self.world

    def reps(self) -> None:
        regions = self.text["regions"]
        n = max(len(regions), self._count(50))
        self.rep_list = []
        for i in range(1, n + 1):
            region = regions[(i - 1) % len(regions)]
            team_no = (i - 1) // (len(regions) * 6) + 1
            hired = self._moment(self.history_start - timedelta(days=1500), self.history_start - timedelta(days=30))
            rep = {
                "rep_id": f"R{i:04d}",
                "full_name": self.fake.name(),
                "email": f"rep{i:04d}@example.com",
                "team": self.text["team"].format(region=region, n=team_no),
                "region": region,
                "manager_id": None,
                "hire_date": hired.date().isoformat(),
                "is_active": True,
                "updated_at": _iso(hired),
            }
            self.rep_list.append(rep)
        leads = {}
        for rep in self.rep_list:  # first rep of each team manages it
            rep["manager_id"] = leads.setdefault(rep["team"], rep["rep_id"])
            if rep["manager_id"] == rep["rep_id"]:
                rep["manager_id"] = None
            self.world.add("reps", [(datetime.fromisoformat(rep["updated_at"]), rep)])

    def accounts(self) -> None:
        n = self._count(5000)
        self.account_list = []
        for i in range(1, n + 1):
            # 60% existed before the history starts, the rest are won over during it.
            if self.rng.random() < 0.6:
                created = self._moment(self.history_start - timedelta(days=730), self.history_start)
            else:
                created = self._moment(self.history_start, self.world.horizon_end)
            owner = self.rng.choice(self.rep_list)
            account = {
                "account_id": f"A{i:05d}",
                "account_name": self.fake.company(),
                "industry": self.rng.choice(self.text["industries"]),
                "region": owner["region"],
                "segment": self.rng.choices(SEGMENTS, weights=[1, 3, 6])[0],
                "owner_rep_id": owner["rep_id"],
                "acquisition_channel": self.rng.choice(CHANNELS),
                "created_at": _iso(created),
                "updated_at": _iso(created),
            }
            self.account_list.append((created, account))
            self.world.add("accounts", [(created, account)])

    def opportunities(self) -> None:
        n = self._count(20000, per_year=True)
        history_seq = 0
        for i in range(1, n + 1):
            account_created, account = self.rng.choice(self.account_list)
            created = self._moment(max(self.history_start, account_created), self.world.horizon_end)
            amount = _money(self.rng.lognormvariate(11, 0.8))
            base = {
                "opportunity_id": f"O{i:06d}",
                "account_id": account["account_id"],
                "owner_rep_id": account["owner_rep_id"],
                "product_line": self.rng.choice(PRODUCT_LINES),
                "amount": amount,
                "currency": "CNY",
                "lead_source": self.rng.choice(CHANNELS),
                "created_at": _iso(created),
                "expected_close_date": (created + timedelta(days=60)).date().isoformat(),
                "closed_at": None,
            }
            stages = [("needs_analysis", created)]
            entered = created
            for k, p_advance in enumerate(ADVANCE_PROBABILITY):
                entered = self._after(entered, 24, 24 * 25)
                stages.append((STAGES[k + 1] if self.rng.random() < p_advance else "closed_lost", entered))
                if stages[-1][0] == "closed_lost":
                    break
            versions = []
            for stage, ts in stages:
                closed = stage in ("closed_won", "closed_lost")
                versions.append(
                    (ts, base | {"stage": stage, "updated_at": _iso(ts), "closed_at": _iso(ts) if closed else None})
                )
            # a few open or lost deals are deleted in the CRM (duplicates, test records)
            deleted = None
            if stages[-1][0] != "closed_won" and self.rng.random() < DELETE_SHARE:
                deleted = self._after(stages[-1][1], 24, 24 * 30)
                versions.append((deleted, None))
            self.world.add("opportunities", versions)
            for stage, ts in stages:
                history_seq += 1
                row = {
                    "history_id": f"H{history_seq:07d}",
                    "opportunity_id": base["opportunity_id"],
                    "stage": stage,
                    "entered_at": _iso(ts),
                }
                self.world.add("opportunity_stage_history", [(ts, row)] + ([(deleted, None)] if deleted else []))
            if stages[-1][0] == "closed_won":
                self.invoice(base, stages[-1][1])

    def invoice(self, opportunity: dict, won_at: datetime) -> None:
        invoice_ts = self._after(won_at, 1, 24 * 5)
        n = len(self.world.records.get("invoices", [])) + 1
        amount = opportunity["amount"]
        tax = _money(amount * TAX_RATE)
        due = invoice_ts.date() + timedelta(days=60 if self.rng.random() < 0.3 else 30)
        invoice = {
            "invoice_id": f"INV{n:07d}",
            "opportunity_id": opportunity["opportunity_id"],
            "account_id": opportunity["account_id"],
            "invoice_date": invoice_ts.date().isoformat(),
            "due_date": due.isoformat(),
            "amount": amount,
            "tax_amount": tax,
            "currency": "CNY",
            "updated_at": _iso(invoice_ts),
        }
        self.world.add("invoices", [(invoice_ts, invoice)])
        if invoice_ts >= self.world.horizon_end or self.rng.random() > 0.9:
            return  # never paid (yet)
        gross = amount + tax
        due_ts = datetime.combine(due, time(), UTC)
        parts = [gross] if self.rng.random() > 0.15 else [_money(gross / 2), gross - _money(gross / 2)]
        paid = max(invoice_ts, self._after(due_ts, -24 * 20, 24 * 30))
        for part in parts:
            m = len(self.world.records.get("payments", [])) + 1
            payment = {
                "payment_id": f"PAY{m:07d}",
                "invoice_id": invoice["invoice_id"],
                "paid_on": paid.date().isoformat(),
                "amount": part,
                "currency": "CNY",
                "method": self.rng.choice(["bank_transfer", "bank_transfer", "acceptance_bill", "card"]),
                "updated_at": _iso(paid),
            }
            self.world.add("payments", [(paid, payment)])
            paid = self._after(paid, 24 * 7, 24 * 40)

    def targets(self) -> None:
        month = self.history_start.date().replace(day=1)
        last = (self.world.horizon_end - timedelta(seconds=1)).date()
        n = 0
        while month <= last:
            set_at = datetime.combine(month - timedelta(days=10), time(9), UTC)
            for rep in self.rep_list:
                for line in PRODUCT_LINES:
                    n += 1
                    target = {
                        "target_id": f"T{n:07d}",
                        "rep_id": rep["rep_id"],
                        "product_line": line,
                        "target_month": month.isoformat(),
                        "amount": _money(self.rng.randrange(200, 350) * 1000),
                        "currency": "CNY",
                        "updated_at": _iso(set_at),
                    }
                    self.world.add("targets", [(set_at, target)])
            month = (month + timedelta(days=32)).replace(day=1)

    def tickets(self) -> None:
        n = self._count(3000, per_year=True)
        survey_seq = 0
        response_hours = {"urgent": 2, "high": 8, "normal": 24, "low": 48}
        for i in range(1, n + 1):
            account_created, account = self.rng.choice(self.account_list)
            opened = self._moment(max(self.history_start, account_created), self.world.horizon_end)
            priority = self.rng.choices(PRIORITIES, weights=[3, 5, 2, 1])[0]
            responded = self._after(opened, 0.1, response_hours[priority] * 1.5)
            resolved = self._after(responded, 1, 24 * 10)
            ticket = {
                "ticket_id": f"TK{i:07d}",
                "account_id": account["account_id"],
                "priority": priority,
                "status": "open",
                "opened_at": _iso(opened),
                "first_response_at": None,
                "resolved_at": None,
                "updated_at": _iso(opened),
            }
            pending = ticket | {
                "status": "pending",
                "first_response_at": _iso(responded),
                "updated_at": _iso(responded),
            }
            solved = pending | {"status": "solved", "resolved_at": _iso(resolved), "updated_at": _iso(resolved)}
            self.world.add("tickets", [(opened, ticket), (responded, pending), (resolved, solved)])
            if resolved < self.world.horizon_end and self.rng.random() < 0.5:
                survey_seq += 1
                submitted = self._after(resolved, 1, 72)
                csat = self.rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 4])[0]
                nps = min(10, max(0, csat * 2 + self.rng.choice([-2, -1, 0, 0, 1])))
                survey = {
                    "survey_id": f"S{survey_seq:07d}",
                    "ticket_id": ticket["ticket_id"],
                    "account_id": account["account_id"],
                    "csat": csat,
                    "nps": nps,
                    "submitted_at": _iso(submitted),
                }
                self.world.add("surveys", [(submitted, survey)])
