"""A seeded simulation of a mid-size company's sales, finance and service history.

Every record is a list of versions `(visible_at, fields)`: the moment the change became visible in
the source system and the record as it then was (`fields` None: deleted in the source). A feed for
a day carries each record's latest version that became visible that day, as an incremental API or a
daily export would. Some changes arrive late: visible a day or more after their `updated_at`.

The simulation always runs whole years past `start`, so a longer `--days` extends the same history
rather than drawing a different one. Scale 1 is about 50 reps, 5,000 accounts and 20,000
opportunities a year. Amounts are to the cent, in the customer's billing currency: most accounts are
billed in CNY, some in USD, HKD or EUR (their deals, invoices, payments and service contracts
too), converted from the CNY-sized draw at the day's simulated FX rate; targets are in CNY.

Entities added after the first release (rep moves, activities, leads, service contracts, FX rates,
product costs, billing currencies) draw from random streams of their own (`_stream`), and are
added to the world after the others: the records the first release drew stay exactly as they were.
"""

from __future__ import annotations

import math
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
ACTIVITY_TYPES = ["visit", "call", "meeting"]
# Billing currency of an account (share of accounts); the rest of sources.yml `currencies` only
# shows up in the FX rates.
BILLING_CURRENCIES = {"CNY": 0.8, "USD": 0.1, "HKD": 0.06, "EUR": 0.04}
# CNY per unit at the start of the simulated FX span, and daily volatility of the random walk;
# HKD follows USD through its peg (7.75-7.85 HKD per USD).
FX_START = {"USD": 7.10, "EUR": 7.75, "JPY": 0.0475}
FX_VOLATILITY = {"USD": 0.002, "EUR": 0.004, "JPY": 0.005}
HKD_PER_USD = 7.8
RATE = Decimal("0.000001")
# Standard cost as a share of price per product line, revised every half year (valid_from).
COST_RATES = {"software": 0.22, "hardware": 0.64, "services": 0.47}
REP_MOVE_SHARE = 0.04  # chance a rep changes team or region in a year
CONVERTED_LEAD_SHARE = 0.75  # of opportunities that come from a CRM lead (the rest are entered directly)
# Leads that never convert, per scale unit and year, and their channels: trade shows and the website
# bring volume that rarely converts, referrals and partners bring few leads that often do.
UNCONVERTED_LEADS = 30000
UNCONVERTED_CHANNEL_WEIGHTS = [1, 6, 5, 1.5, 4]  # in CHANNELS order
ACCOUNT_ACTIVITIES = 6000  # activities not tied to a deal (account care), per scale unit and year
SERVICE_CONTRACT_SHARE = {"software": 0.45, "hardware": 0.35, "services": 0.15}  # of won deals
RENEWAL_RATE = {"enterprise": 0.85, "mid_market": 0.75, "smb": 0.6}
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
# records nothing refers to: they may even be created late
LATE_CREATION = {"payments", "surveys", "activities", "leads"}
ACTIVITY_DELETE_SHARE = 0.01  # of activities deleted in the CRM later (logged twice, wrong account)
Version = tuple[datetime, dict | None]


def simulated_days(days: int) -> int:
    """Days simulated from the start for `days` delivered ones: whole years (365 days each).

    Every draw depends on this span, so two runs are the same world only while it is the same:
    up to 365 days delivered give one world, 366 to 730 another (generate/anchor.py relies on it).
    """
    return 365 * max(1, -(-days // 365))


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
        return datetime.combine(self.start + timedelta(days=simulated_days(self.days)), time(), UTC)

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
        horizon_end = self.horizon_end
        kept = [(ts, fields) for ts, fields in shifted if ts < horizon_end]
        if kept:
            self.records.setdefault(entity, []).append(kept)


def _iso(ts: datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def _money(value: float | Decimal) -> Decimal:
    return Decimal(value).quantize(CENT)


class Simulation:
    def __init__(
        self,
        *,
        scale: float,
        start: date,
        days: int,
        history_days: int,
        locale: str,
        seed: int,
        currencies: tuple[str, ...] = ("CNY", "USD", "EUR", "HKD", "JPY"),
    ):
        if locale not in LOCALE_TEXT:
            raise ValueError(f"locale must be one of {sorted(LOCALE_TEXT)}, got {locale!r}")
        simulated = ["CNY", "HKD", *FX_START]
        if [c for c in currencies if c not in simulated] or [c for c in BILLING_CURRENCIES if c not in currencies]:
            raise ValueError(
                f"currencies {list(currencies)}: the simulation has FX rates for {simulated} and bills in "
                f"{list(BILLING_CURRENCIES)}"
            )
        self.seed = seed
        self.currencies = currencies
        self.rng = random.Random(seed)
        self.fake = Faker(locale)
        self.fake.seed_instance(seed)
        self.text = LOCALE_TEXT[locale]
        self.scale = scale
        self.world = World(start=start, days=days, rng=random.Random(seed + 1))
        self.history_start = datetime.combine(start - timedelta(days=history_days), time(), UTC)
        self.span_days = history_days + (self.world.horizon_end.date() - start).days
        # FX rates reach a year further back than the history: contracts signed before it
        self.fx_start = self.history_start.date() - timedelta(days=365)
        self.fx_series = self._fx_series()
        self.account_currency: dict[str, str] = {}
        # (opportunity base record, [(stage, entered_at)], deleted_at or None) in creation order
        self.opportunity_log: list[tuple[dict, list[tuple[str, datetime]], datetime | None]] = []

    # -- helpers ---------------------------------------------------------------------------
    def _stream(self, name: str) -> random.Random:
        """A random stream of its own for `name`, seeded from the main seed."""
        return random.Random(f"{self.seed}/{name}")

    def _fx_series(self) -> dict[str, list[Decimal]]:
        """CNY per unit of each currency, one value per day from `fx_start` to the horizon."""
        rng = self._stream("fx_rates")
        n = (self.world.horizon_end.date() - self.fx_start).days
        walks: dict[str, list[float]] = {"CNY": [1.0] * n}
        for currency, level in FX_START.items():
            path = []
            for _ in range(n):
                level *= math.exp(rng.gauss(0, FX_VOLATILITY[currency]))
                path.append(level)
            walks[currency] = path
        walks["HKD"] = [usd / (HKD_PER_USD + rng.uniform(-0.05, 0.05)) for usd in walks["USD"]]
        return {c: [Decimal(v).quantize(RATE) for v in walks[c]] for c in self.currencies}

    def rate(self, currency: str, day: date) -> Decimal:
        """CNY per unit of `currency` on `day` (the nearest simulated day outside the span)."""
        series = self.fx_series[currency]
        return series[min(max((day - self.fx_start).days, 0), len(series) - 1)]

    def _from_cny(self, amount: Decimal, currency: str, day: date) -> Decimal:
        return amount if currency == "CNY" else _money(amount / self.rate(currency, day))

    def _count(self, per_scale_unit: float, per_year: bool = False) -> int:
        n = per_scale_unit * self.scale * (self.span_days / 365 if per_year else 1)
        return max(1, round(n))

    def _moment(self, lo: datetime, hi: datetime, rng: random.Random | None = None) -> datetime:
        seconds = int((hi - lo).total_seconds())
        return (lo + timedelta(seconds=(rng or self.rng).randrange(max(seconds, 1)))).replace(microsecond=0)

    def _after(self, ts: datetime, min_hours: float, max_hours: float, rng: random.Random | None = None) -> datetime:
        return (ts + timedelta(hours=(rng or self.rng).uniform(min_hours, max_hours))).replace(microsecond=0)

    # -- entities --------------------------------------------------------------------------
    def run(self) -> World:
        self.reps()
        self.accounts()
        self.opportunities()
        self.targets()
        self.tickets()
        # Later additions: own random streams, added after the above (see the module docstring).
        self.rep_history()
        self.activities()
        self.leads()
        self.service_contracts()
        self.fx_rates()
        self.product_costs()
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
        # added to the world by rep_history(), with the moves between teams

    def accounts(self) -> None:
        n = self._count(5000)
        self.account_list = []
        currency_rng = self._stream("billing_currencies")
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
            self.account_currency[account["account_id"]] = currency_rng.choices(
                list(BILLING_CURRENCIES), weights=list(BILLING_CURRENCIES.values())
            )[0]
            self.account_list.append((created, account))
            self.world.add("accounts", [(created, account)])

    def opportunities(self) -> None:
        n = self._count(20000, per_year=True)
        history_seq = 0
        for i in range(1, n + 1):
            account_created, account = self.rng.choice(self.account_list)
            created = self._moment(max(self.history_start, account_created), self.world.horizon_end)
            currency = self.account_currency[account["account_id"]]
            amount = self._from_cny(_money(self.rng.lognormvariate(11, 0.8)), currency, created.date())
            base = {
                "opportunity_id": f"O{i:06d}",
                "account_id": account["account_id"],
                "owner_rep_id": account["owner_rep_id"],
                "product_line": self.rng.choice(PRODUCT_LINES),
                "amount": amount,
                "currency": currency,
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
            self.opportunity_log.append((base, stages, deleted))
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
            "currency": opportunity["currency"],
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
                "currency": invoice["currency"],
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

    # -- later additions, each on its own random stream ------------------------------------
    def rep_history(self) -> None:
        """Every rep, with a version per move to another team (and so perhaps region and manager).

        A few % of reps move in a year, never leaving their team empty; one rep always moves on
        the second delivered day, so even a short run has rep history to show (an initial extract
        only holds each rep's current version).
        """
        rng = self._stream("rep_moves")
        teams: dict[str, tuple[str, str]] = {}  # team -> (region, manager: its first rep)
        members: dict[str, set[str]] = {}
        for rep in self.rep_list:
            teams.setdefault(rep["team"], (rep["region"], rep["rep_id"]))
            members.setdefault(rep["team"], set()).add(rep["rep_id"])
        moves: list[tuple[datetime, str, bool]] = []  # when, who, forced
        for rep in self.rep_list:
            for year in range(-(-self.span_days // 365)):
                if rng.random() < REP_MOVE_SHARE:
                    lo = self.history_start + timedelta(days=365 * year)
                    hi = min(lo + timedelta(days=365), self.world.horizon_end)
                    moves.append((self._moment(lo, hi, rng), rep["rep_id"], False))
        if len(teams) > 1:
            second_day = datetime.combine(self.world.start + timedelta(days=1), time(10), UTC)
            moves.append((second_day, rng.choice(self.rep_list)["rep_id"], True))
        versions = {rep["rep_id"]: [(datetime.fromisoformat(rep["updated_at"]), rep)] for rep in self.rep_list}
        for moved, rep_id, forced in sorted(moves):
            current = versions[rep_id][-1][1]
            if not forced and len(members[current["team"]]) < 2:
                continue
            team = rng.choice(sorted(t for t in teams if t != current["team"]))
            members[current["team"]].discard(rep_id)
            members[team].add(rep_id)
            region, manager = teams[team]
            change = {
                "team": team,
                "region": region,
                "manager_id": None if manager == rep_id else manager,
                "updated_at": _iso(moved),
            }
            versions[rep_id].append((moved, current | change))
        for rep in self.rep_list:
            self.world.add("reps", versions[rep["rep_id"]])

    def activities(self) -> None:
        """Visits, calls and meetings: some in every open stage of a deal (so won deals, which pass
        through all of them, have the most), a kick-off after a win, and account care with no deal."""
        rng = self._stream("activities")
        seq = 0

        def log(rep_id, account_id, opportunity_id, occurred: datetime, kind: str, gone: datetime | None) -> None:
            nonlocal seq
            seq += 1
            logged = self._after(occurred, 0.2, 48, rng)  # reps log what they did afterwards
            activity = {
                "activity_id": f"AC{seq:07d}",
                "rep_id": rep_id,
                "account_id": account_id,
                "opportunity_id": opportunity_id,
                "activity_type": kind,
                "occurred_at": _iso(occurred),
                "updated_at": _iso(logged),
            }
            versions = [(logged, activity)]
            if rng.random() < 0.1:  # corrected later: it was another kind of contact
                edited = self._after(logged, 1, 72, rng)
                corrected = {"activity_type": rng.choice(ACTIVITY_TYPES), "updated_at": _iso(edited)}
                versions.append((edited, activity | corrected))
            if gone is None and rng.random() < ACTIVITY_DELETE_SHARE:
                gone = self._after(versions[-1][0], 1, 24 * 14, rng)
            if gone is not None:  # deleted itself, or with its deal: nothing of it shows after that
                versions = [(min(ts, gone), fields) for ts, fields in versions] + [(gone, None)]
            self.world.add("activities", versions)

        for base, stages, deleted in self.opportunity_log:
            rep_id, account_id, opportunity_id = base["owner_rep_id"], base["account_id"], base["opportunity_id"]
            for (stage, entered), (_, left) in zip(stages, stages[1:]):
                for _ in range(rng.choice([0, 1, 1, 2, 3])):
                    kind = rng.choices(ACTIVITY_TYPES, weights=[4, 3, 3] if stage != "needs_analysis" else [2, 5, 3])[0]
                    log(rep_id, account_id, opportunity_id, self._moment(entered, left, rng), kind, deleted)
            if stages[-1][0] == "closed_won":
                kickoff = self._after(stages[-1][1], 24, 24 * 10, rng)
                log(rep_id, account_id, opportunity_id, kickoff, "meeting", None)
        for _ in range(self._count(ACCOUNT_ACTIVITIES, per_year=True)):
            created, account = rng.choice(self.account_list)
            occurred = self._moment(max(self.history_start, created), self.world.horizon_end, rng)
            kind = rng.choices(ACTIVITY_TYPES, weights=[3, 6, 1])[0]
            log(account["owner_rep_id"], account["account_id"], None, occurred, kind, None)

    def leads(self) -> None:
        """Leads: most deals were converted from one (new -> working -> converted, in the deal's
        channel); many more never convert (disqualified, or still new or worked on)."""
        rng = self._stream("leads")
        pending: list[tuple[datetime, list[Version]]] = []
        for base, stages, deleted in self.opportunity_log:
            if rng.random() >= CONVERTED_LEAD_SHARE:
                continue
            converted = stages[0][1]
            created = self._after(converted, -24 * 40, -24 * 2, rng)
            lead = {
                "source_channel": base["lead_source"],
                "status": "new",
                "owner_rep_id": base["owner_rep_id"],
                "created_at": _iso(created),
                "converted_at": None,
                "converted_account_id": None,
                "converted_opportunity_id": None,
                "updated_at": _iso(created),
            }
            working = self._after(created, 2, 72, rng)
            done = lead | {
                "status": "converted",
                "converted_at": _iso(converted),
                "converted_account_id": base["account_id"],
                "converted_opportunity_id": base["opportunity_id"],
                "updated_at": _iso(converted),
            }
            versions = [(created, lead)]
            if working < converted:
                versions.append((working, lead | {"status": "working", "updated_at": _iso(working)}))
            versions.append((converted, done))
            if deleted:  # the CRM clears the lookup of a deleted deal
                versions.append((deleted, done | {"converted_opportunity_id": None, "updated_at": _iso(deleted)}))
            pending.append((created, versions))
        for _ in range(self._count(UNCONVERTED_LEADS, per_year=True)):
            created = self._moment(self.history_start, self.world.horizon_end, rng)
            lead = {
                "source_channel": rng.choices(CHANNELS, weights=UNCONVERTED_CHANNEL_WEIGHTS)[0],
                "status": "new",
                "owner_rep_id": rng.choice(self.rep_list)["rep_id"],
                "created_at": _iso(created),
                "converted_at": None,
                "converted_account_id": None,
                "converted_opportunity_id": None,
                "updated_at": _iso(created),
            }
            versions = [(created, lead)]
            if rng.random() < 0.8:
                worked = self._after(created, 2, 72, rng)
                versions.append((worked, lead | {"status": "working", "updated_at": _iso(worked)}))
            if rng.random() < 0.85:
                dropped = self._after(versions[-1][0], 24, 24 * 40, rng)
                versions.append((dropped, versions[-1][1] | {"status": "disqualified", "updated_at": _iso(dropped)}))
            pending.append((created, versions))
        pending.sort(key=lambda p: p[0])  # lead ids in creation order
        for n, (_, versions) in enumerate(pending, start=1):
            self.world.add("leads", [(ts, {"lead_id": f"L{n:07d}"} | fields) for ts, fields in versions])

    def service_contracts(self) -> None:
        """Yearly service contracts: some accounts had one before the history starts, many won deals
        start one; near its end a contract is renewed (a new contract, renewed_from the old one,
        which turns `renewed`) or, after its end date, lapses."""
        rng = self._stream("service_contracts")
        segment = {account["account_id"]: account["segment"] for _, account in self.account_list}
        first: list[tuple[str, str, datetime, Decimal]] = []  # account, currency, signed, annual fee
        for created, account in self.account_list:
            if created < self.history_start and rng.random() < 0.3:
                lo = max(created, self.history_start - timedelta(days=365))
                signed = self._moment(lo, self.history_start, rng)
                currency = self.account_currency[account["account_id"]]
                fee = self._from_cny(_money(rng.lognormvariate(10.3, 0.5)), currency, signed.date())
                first.append((account["account_id"], currency, signed, fee))
        for base, stages, deleted in self.opportunity_log:
            if stages[-1][0] == "closed_won" and rng.random() < SERVICE_CONTRACT_SHARE[base["product_line"]]:
                signed = self._after(stages[-1][1], 24, 24 * 20, rng)
                share = Decimal(rng.randrange(100, 200)) / 1000
                first.append((base["account_id"], base["currency"], signed, _money(base["amount"] * share)))
        seq = 0
        for account_id, currency, signed, fee in first:
            start, previous = (signed + timedelta(days=rng.randrange(15))).date(), None
            while signed < self.world.horizon_end:
                seq += 1
                end = start + timedelta(days=364)
                contract = {
                    "contract_id": f"SC{seq:06d}",
                    "account_id": account_id,
                    "start_date": start.isoformat(),
                    "end_date": end.isoformat(),
                    "annual_fee": fee,
                    "currency": currency,
                    "status": "active",
                    "renewed_from_contract_id": previous,
                    "updated_at": _iso(signed),
                }
                versions = [(signed, contract)]
                end_ts = datetime.combine(end + timedelta(days=1), time(), UTC)
                if rng.random() < RENEWAL_RATE[segment[account_id]]:
                    renewed = max(self._after(end_ts, -24 * 30, 0, rng), signed + timedelta(hours=1))
                    versions.append((renewed, contract | {"status": "renewed", "updated_at": _iso(renewed)}))
                    self.world.add("service_contracts", versions)
                    signed, start, previous = renewed, end + timedelta(days=1), contract["contract_id"]
                    fee = _money(fee * Decimal(rng.randrange(1000, 1080)) / 1000)
                else:
                    lapsed = self._after(end_ts, 1, 72, rng)
                    versions.append((lapsed, contract | {"status": "lapsed", "updated_at": _iso(lapsed)}))
                    self.world.add("service_contracts", versions)
                    break

    def fx_rates(self) -> None:
        """The ERP's daily rates (CNY per unit, CNY = 1), published at 09:15 Beijing time."""
        for offset in range(len(self.fx_series["CNY"])):
            day = self.fx_start + timedelta(days=offset)
            published = datetime.combine(day, time(1, 15), UTC)
            for currency in self.currencies:
                row = {
                    "fx_rate_id": f"{currency}{day:%Y%m%d}",
                    "rate_date": day.isoformat(),
                    "currency": currency,
                    "rate_to_cny": self.fx_series[currency][offset],
                    "updated_at": _iso(published),
                }
                self.world.add("fx_rates", [(published, row)])

    def product_costs(self) -> None:
        """Standard cost per product line as a share of price, revised every half year (published
        two weeks before it is valid from), now and then corrected a few days after publication."""
        rng = self._stream("product_costs")
        rates = dict(COST_RATES)
        valid_from, n = date(self.fx_start.year, 1, 1), 0
        while valid_from < self.world.horizon_end.date():
            published = datetime.combine(valid_from - timedelta(days=14), time(2), UTC)
            for line in PRODUCT_LINES:
                n += 1
                if n > len(PRODUCT_LINES):
                    rates[line] = min(0.9, max(0.05, rates[line] * rng.uniform(0.95, 1.06)))
                cost = {
                    "product_cost_id": f"PC{n:05d}",
                    "product_line": line,
                    "valid_from": valid_from.isoformat(),
                    "cost_rate": Decimal(rates[line]).quantize(Decimal("0.0001")),
                    "updated_at": _iso(published),
                }
                versions = [(published, cost)]
                if rng.random() < 0.1:
                    fixed = self._after(published, 24, 24 * 5, rng)
                    rates[line] = rates[line] * rng.uniform(0.98, 1.02)
                    corrected = Decimal(rates[line]).quantize(Decimal("0.0001"))
                    versions.append((fixed, cost | {"cost_rate": corrected, "updated_at": _iso(fixed)}))
                self.world.add("product_costs", versions)
            valid_from = valid_from.replace(month=7) if valid_from.month == 1 else date(valid_from.year + 1, 1, 1)
