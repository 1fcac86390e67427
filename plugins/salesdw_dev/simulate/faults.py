"""Switchable faults and per-token rate limiting: the failure modes a real SaaS API has.

Random faults draw from one `random.Random(seed)`, the same draws per request whatever happens, so
a given seed and request sequence always fail the same way (concurrent clients make the sequence
theirs to order). A script pins a fault to exactly the k-th API request for tests: every
authenticated GET of a listing counts, rate-limited ones included, from the start or from the last
reconfiguration (admin and health requests do not).

Fault kinds: "500" "502" "503" "504" (that status), "429" (rate limited, `Retry-After:
retry_after`), "slow" (sleep `slow_seconds`, then answer), "duplicate" (serve the previous page
again instead of the requested one; pagination then carries on from there, so nothing is lost
but a page arrives twice), "drop" (close the connection without an answer), "invalid_json" (a
200 with an HTML body, as a misconfigured proxy sends).
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields

STATUS_FAULTS = ("500", "502", "503", "504", "429")
FAULT_KINDS = (*STATUS_FAULTS, "slow", "duplicate", "drop", "invalid_json")
RANDOM_ERROR_STATUSES = (500, 502, 503)


@dataclass
class FaultConfig:
    error_rate: float = 0.0  # share of requests answered 500/502/503
    slow_rate: float = 0.0  # share of requests answered after `slow_seconds`
    slow_seconds: float = 5.0
    duplicate_rate: float = 0.0  # share of next-page requests answered with the previous page again
    seed: int | None = None
    script: dict[int, str] = field(default_factory=dict)  # k-th request -> fault kind
    retry_after: int = 1  # Retry-After (seconds) of a scripted 429
    rate_limit: float = 0.0  # requests per second per token; 0 = unlimited
    rate_burst: int = 0  # bucket size; 0 = max(1, rate_limit)

    def validate(self) -> None:
        for name in ("error_rate", "slow_rate", "duplicate_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1, got {value}")
        for name in ("slow_seconds", "rate_limit", "rate_burst", "retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        for k, kind in self.script.items():
            if k < 1 or kind not in FAULT_KINDS:
                raise ValueError(
                    f"script entry {k}: {kind!r}: expected request number >= 1 and a fault in {', '.join(FAULT_KINDS)}"
                )


@dataclass(frozen=True)
class Decision:
    """What to do to the request numbered `number`."""

    number: int
    status: int | None = None  # answer with this error status instead
    retry_after: int | None = None  # with a 429
    slow: float = 0.0  # sleep this long first
    duplicate: bool = False
    drop: bool = False
    invalid_json: bool = False


def parse_script(items: list[str] | dict) -> dict[int, str]:
    """`["3=503", "5=slow"]` or `{"3": "503"}` -> `{3: "503", 5: "slow"}`."""
    if isinstance(items, dict):
        pairs = items.items()
    else:
        pairs = []
        for item in items:
            k, sep, kind = str(item).partition("=")
            if not sep:
                raise ValueError(f"expected K=FAULT (e.g. 3=503), got {item!r}")
            pairs.append((k, kind))
    try:
        return {int(k): str(kind).strip() for k, kind in pairs}
    except ValueError:
        raise ValueError(f"expected request numbers as integers, got {list(pairs)!r}") from None


class Faults:
    """The fault plan, the request counter and the rate limiter of one server (thread-safe)."""

    def __init__(self, **config) -> None:
        self._lock = threading.Lock()
        self.config = FaultConfig()
        self.configure(**config)

    def configure(self, **changes) -> dict:
        """Merge `changes` into the plan; restarts the request count, the RNG and the rate buckets."""
        known = {f.name for f in fields(FaultConfig)}
        unknown = sorted(set(changes) - known - {"reset"})
        if unknown:
            raise ValueError(f"unknown fault setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        base = FaultConfig() if changes.pop("reset", False) else self.config
        merged = asdict(base) | changes
        merged["script"] = parse_script(merged.get("script") or {})
        try:
            config = FaultConfig(**{k: _COERCE.get(k, _same)(v) for k, v in merged.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid fault settings: {exc}") from None
        config.validate()
        with self._lock:
            self.config = config
            self.requests = 0
            self._rng = random.Random(config.seed)
            self._buckets: dict[str, tuple[float, float]] = {}
        return self.snapshot()

    def snapshot(self) -> dict:
        data = asdict(self.config)
        data["script"] = {str(k): v for k, v in data["script"].items()}
        return {"faults": data, "requests": self.requests}

    # -- per request ---------------------------------------------------------------------------
    def rate_limited(self, token: str) -> int | None:
        """Seconds to wait if `token` is over its rate (token bucket), else None (and spend one)."""
        rate = self.config.rate_limit
        if rate <= 0:
            return None
        burst = self.config.rate_burst or max(1.0, rate)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(token, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[token] = (tokens - 1.0, now)
                return None
            self._buckets[token] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))

    def next_request(self) -> Decision:
        with self._lock:
            self.requests += 1
            number = self.requests
            cfg = self.config
            draws = (self._rng.random(), self._rng.random(), self._rng.random())
            pick = self._rng.choice(RANDOM_ERROR_STATUSES)
        scripted = cfg.script.get(number)
        if scripted is not None:
            if scripted in STATUS_FAULTS:
                status = int(scripted)
                return Decision(number, status=status, retry_after=cfg.retry_after if status == 429 else None)
            return Decision(
                number,
                slow=cfg.slow_seconds if scripted == "slow" else 0.0,
                duplicate=scripted == "duplicate",
                drop=scripted == "drop",
                invalid_json=scripted == "invalid_json",
            )
        if draws[0] < cfg.error_rate:
            return Decision(number, status=pick)
        return Decision(
            number,
            slow=cfg.slow_seconds if draws[1] < cfg.slow_rate else 0.0,
            duplicate=draws[2] < cfg.duplicate_rate,
        )


def _same(value):
    return value


_COERCE = {
    "error_rate": float,
    "slow_rate": float,
    "slow_seconds": float,
    "duplicate_rate": float,
    "rate_limit": float,
    "retry_after": int,
    "rate_burst": int,
    "seed": lambda v: None if v is None else int(v),
}
