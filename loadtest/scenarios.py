"""The scenarios: the seed's (ramp to 1,000 users, spike to 5,000, sustained load) and
LFG's own (10,000 concurrent market-data subscribers on one gateway process).

A scenario is a population over time (who joins when, who leaves when), a mix of actor
kinds, actor parameters, the server's rate limits, and the window its figures are judged
on. Each comes in three sizes: `full` (the figures in docs/PERFORMANCE.md), `short`
(`make loadtest`: every scenario briefly) and `smoke` (CI: a few hundred users, a few
seconds). `--users`, `--duration`, `--mix`, `--rate` and `--param` override a size.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

from loadtest.actors import ACTOR_PARAMS, KINDS, Actor

SIZES = ("full", "short", "smoke")
NAMES = ("ramp", "spike", "sustained", "connections")


@dataclass
class Scenario:
    name: str
    size: str
    title: str
    #: Users in the mix (the spike's peak; the connections scenario's subscribers).
    users: int
    #: Shares of `users` by kind (dashboards take what the others leave).
    mix: dict[str, float]
    #: ramp | spike | steady | connect: how users join and leave (see `schedule`).
    shape: str
    timing: dict[str, float]
    params: dict[str, float] = field(default_factory=dict)
    #: Users of each kind added on top of `users` (the connections scenario's traders).
    extra: dict[str, int] = field(default_factory=dict)
    #: "off": every rate limit off; "default": the server's defaults.
    limits: str = "off"
    markets: int = 8
    procs: int = 2
    #: Accounts registered at set-up; traders and browsers share them round-robin.
    accounts: int = 16
    #: Sustained: the order commands a second offered (None: from the actor parameters).
    rate: float | None = None
    #: Sustained: also run the same load over REST and against the peer.
    peer: bool = False

    @property
    def duration(self) -> float:
        """Seconds from the first user's start to the last user's stop."""
        t = self.timing
        return {
            "ramp": lambda: t["ramp_s"] + t["hold_s"],
            "spike": lambda: t["base_s"] + t["rise_s"] + t["hold_s"] + t["recover_s"],
            "steady": lambda: t["warmup_s"] + t["duration_s"],
            "connect": lambda: t["connect_s"] + t["hold_s"],
        }[self.shape]()

    @property
    def window(self) -> tuple[str, float, float]:
        """(name, start, end) of the part the scenario's targets are judged on."""
        t = self.timing
        if self.shape == "spike":
            return ("spike", t["base_s"], t["base_s"] + t["rise_s"] + t["hold_s"])
        if self.shape == "steady":
            return ("steady", t["warmup_s"], t["warmup_s"] + t["duration_s"])
        if self.shape == "connect":
            # The last two thirds of the hold: the last connections have settled.
            return ("hold", t["connect_s"] + t["hold_s"] / 3, t["connect_s"] + t["hold_s"])
        return ("whole run", 0.0, self.duration)

    def counts(self) -> dict[str, int]:
        """Users of each kind."""
        out = {k: round(self.users * self.mix.get(k, 0.0)) for k in KINDS if k != "dashboard"}
        out["dashboard"] = max(0, self.users - sum(out.values()))
        for k, n in self.extra.items():
            out[k] = out.get(k, 0) + n
        return out

    def actor_params(self) -> dict[str, float]:
        """ACTOR_PARAMS, then the scenario's, then what `rate` implies for the sustained
        scenario: 70% of the commands from makers, 30% from takers."""
        p = {**ACTOR_PARAMS, **self.params}
        if self.rate:
            c = self.counts()
            makers, takers = c.get("maker", 0), c.get("taker", 0)
            maker_share = 0.7 if takers else 1.0
            if makers:
                per_cycle = p["maker_markets"] * 2 * p["maker_levels"] * 2  # cancels + places
                p["maker_interval"] = makers * per_cycle / (self.rate * maker_share)
            if takers:
                p["taker_rate"] = self.rate * (1 - maker_share) / takers
        return p

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "title": self.title,
            "users": self.users,
            "counts": self.counts(),
            "shape": self.shape,
            "timing": self.timing,
            "duration_s": self.duration,
            "window": list(self.window),
            "limits": self.limits,
            "markets": self.markets,
            "procs": self.procs,
            "accounts": self.accounts,
            "rate": self.rate,
            "peer": self.peer,
            "params": self.actor_params(),
        }


#: A retail exchange: 1% market makers re-quoting every 2 s, 5% active traders at one
#: order a second, browsers ordering every 30 s on average, the rest watching. About
#: 140 order commands a second per 1,000 users.
_MIX_RAMP = {"maker": 0.01, "taker": 0.05, "browser": 0.25}
_MIX_SPIKE = {"maker": 0.01, "taker": 0.05, "browser": 0.10}
_RETAIL = {"maker_interval": 2.0, "taker_rate": 1.0, "browser_order_every": 30.0}
#: Two dashboards per market: enough to time fills to subscribers, few enough that the
#: fan-out does not crowd out the order flow the scenario measures.
_MIX_SUSTAINED = {"maker": 0.4, "taker": 0.4}


def _ramp(size: str) -> Scenario:
    users, ramp_s, hold_s, accounts, procs = {
        "full": (1000, 60, 60, 100, 3),
        "short": (300, 10, 10, 24, 2),
        "smoke": (200, 4, 4, 8, 2),
    }[size]
    # Logins cost the server ~0.2 s of CPU each (argon2): brief runs log in fewer users.
    mix = {**_MIX_RAMP, "browser": {"full": 0.25, "short": 0.1, "smoke": 0.05}[size]}
    return Scenario(
        "ramp", size, f"Ramp to {users:,} users", users, mix, "ramp",
        {"ramp_s": ramp_s, "hold_s": hold_s}, params=_RETAIL, accounts=accounts, procs=procs,
    )  # fmt: skip


def _spike(size: str) -> Scenario:
    users, base, base_s, rise_s, hold_s, recover_s, accounts, procs = {
        "full": (5000, 500, 20, 10, 40, 20, 100, 4),
        "short": (1000, 100, 5, 3, 8, 4, 24, 3),
        "smoke": (300, 50, 2, 2, 3, 2, 8, 2),
    }[size]
    mix = {**_MIX_SPIKE, "browser": {"full": 0.1, "short": 0.05, "smoke": 0.03}[size]}
    return Scenario(
        "spike", size, f"Spike from {base:,} to {users:,} users", users, mix, "spike",
        {"base_users": base, "base_s": base_s, "rise_s": rise_s, "hold_s": hold_s,
         "recover_s": recover_s},
        params=_RETAIL, limits="default", accounts=accounts, procs=procs,
    )  # fmt: skip


def _sustained(size: str) -> Scenario:
    users, duration, accounts, procs = {
        "full": (80, 60, 64, 3),
        "short": (40, 10, 16, 2),
        "smoke": (20, 4, 8, 2),
    }[size]
    return Scenario(
        "sustained", size, "Sustained order flow", users, _MIX_SUSTAINED, "steady",
        {"warmup_s": 5 if size != "smoke" else 2, "duration_s": duration},
        accounts=accounts, procs=procs, rate=10_000, peer=True,
    )  # fmt: skip


def _connections(size: str) -> Scenario:
    users, connect_s, hold_s, procs = {
        "full": (10_000, 60, 60, 4),
        "short": (2000, 10, 10, 3),
        "smoke": (300, 3, 4, 2),
    }[size]
    return Scenario(
        "connections", size, f"{users:,} market-data subscribers on one gateway process",
        users, {}, "connect", {"connect_s": connect_s, "hold_s": hold_s},
        # Trading is light (about 2 trades/s): each book event goes to a thousand
        # subscribers, so the fan-out is already ~10,000 messages/s at full size.
        params={"maker_markets": 3, "maker_interval": 20.0, "taker_rate": 0.5,
                "taker_markets": 3},
        extra={"maker": 4, "taker": 4}, markets=10, procs=procs, accounts=8,
    )  # fmt: skip


_BUILDERS = {"ramp": _ramp, "spike": _spike, "sustained": _sustained, "connections": _connections}


def build(name: str, size: str = "full", **overrides: Any) -> Scenario:
    """Scenario `name` at `size`, with overrides: `users`, `duration` (scales every phase
    to that total), `mix`, `params`, `rate`, `procs`, `markets`, `accounts`, `limits`,
    `peer` (None: keep)."""
    s = _BUILDERS[name](size)
    o = {k: v for k, v in overrides.items() if v is not None}
    if "duration" in o:
        factor = float(o.pop("duration")) / s.duration
        s.timing = {k: (v * factor if k.endswith("_s") else v) for k, v in s.timing.items()}
    if "mix" in o:
        s.mix = {**s.mix, **o.pop("mix")}
    if "params" in o:
        s.params = {**s.params, **o.pop("params")}
    if "users" in o and s.shape == "spike":
        s.timing["base_users"] = min(s.timing["base_users"], o["users"])
    return replace(s, **o)


# ---------------------------------------------------------------------------- population


def schedule(s: Scenario, seed: int = 1) -> list[Actor]:
    """Every actor with its start and stop (seconds after t0) and markets.

    - ramp: users join at an even pace over `ramp_s` (kinds interleaved so the mix holds
      all the way), then all stay for `hold_s`;
    - spike: `base_users` join over the first 2 s and stay to the end; the rest join at an
      even pace over `rise_s` from `base_s`, stay `hold_s`, and leave together; the base
      stays `recover_s` more;
    - steady: everyone joins over the first half of `warmup_s` and stays `duration_s`;
    - connect: traders join at once; subscribers join over `connect_s` and all stay
      `hold_s`.
    """
    rng = random.Random(seed)
    counts = s.counts()
    kinds: list[str] = []
    # Interleave kinds: the i-th user of a kind sits at position (i + 0.5) / count.
    slots = sorted(((i + 0.5) / n, k) for k, n in counts.items() for i in range(n) if n > 0)
    kinds = [k for _, k in slots]
    t = s.timing
    end = s.duration
    out: list[Actor] = []
    per_kind = dict.fromkeys(KINDS, 0)
    n = len(kinds)
    trader_kinds = ("maker", "taker")
    subscribers = [k for k in kinds if k not in trader_kinds]
    sub_i = 0
    for j, kind in enumerate(kinds):
        if s.shape == "ramp":
            start, stop = t["ramp_s"] * j / max(1, n), end
        elif s.shape == "spike":
            base = int(t["base_users"])
            if j < base:
                start, stop = 2.0 * j / max(1, base), end
            else:
                frac = (j - base) / max(1, n - base)
                start = t["base_s"] + t["rise_s"] * frac
                stop = t["base_s"] + t["rise_s"] + t["hold_s"]
        elif s.shape == "steady":
            start, stop = t["warmup_s"] * 0.5 * j / max(1, n), end
        else:  # connect
            if kind in trader_kinds:
                start = 0.0
            else:
                start = t["connect_s"] * 0.95 * sub_i / max(1, len(subscribers))
                sub_i += 1
            stop = end
        i = per_kind[kind]
        per_kind[kind] += 1
        nm = int(s.actor_params().get(f"{kind}_markets", 1)) if kind != "dashboard" else 0
        nm = max(1, min(s.markets, nm or int(s.actor_params()["dashboard_markets"])))
        first = (i * nm) % s.markets
        markets = [f"LOAD-{(first + m) % s.markets}" for m in range(nm)]
        out.append(
            Actor(
                kind=kind,
                index=j,
                start=round(start, 3),
                stop=round(stop, 3),
                markets=markets,
                seed=rng.randrange(2**31),
                ip=f"10.{1 + (j >> 16)}.{(j >> 8) & 255}.{j & 255}",
            )
        )
    # The first subscriber of each market counts its trades.
    counted: set[str] = set()
    for a in sorted(out, key=lambda a: a.start):
        if a.kind in ("browser", "dashboard") and a.markets[0] not in counted and a.stop >= end:
            a.count_trades = True
            counted.add(a.markets[0])
    return out


def split(actors: list[Actor], procs: int) -> list[list[Actor]]:
    """Deal actors to `procs` client processes: each kind spread evenly, in start order."""
    parts: list[list[Actor]] = [[] for _ in range(max(1, procs))]
    by_kind: dict[str, list[Actor]] = {}
    for a in sorted(actors, key=lambda a: a.start):
        by_kind.setdefault(a.kind, []).append(a)
    k = 0
    for kind in KINDS:
        for a in by_kind.get(kind, []):
            parts[k % len(parts)].append(a)
            k += 1
    return [p for p in parts if p]


def active_users(actors: list[Actor], seconds: int) -> list[int]:
    """Users scheduled to be running in each second (for the plots)."""
    out = [0] * seconds
    for a in actors:
        for sec in range(max(0, math.floor(a.start)), min(seconds, math.ceil(a.stop))):
            out[sec] += 1
    return out
