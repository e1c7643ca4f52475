"""Token-bucket rate limits (DESIGN.md §6): per user and per IP, one set per request class.

A bucket holds at most `burst` tokens and refills at `per_s` tokens a second; a request
takes one token from each of its buckets, or none if any of them is short, in which case
the caller is told how long to wait. Two stores implement `Limiter`:

- `MemoryLimiter`: this process only (embedded mode);
- `RedisLimiter`: every bucket in Redis, updated by one Lua script per request (atomic,
  timed by Redis's own clock), so that limits hold across gateway replicas.

`RateLimits` is the policy the gateway uses: which buckets a request of a class takes.
Classes and their settings (README, "Configuration"):

| class | what | caller bucket | IP bucket |
|---|---|---|---|
| `auth` | POST /api/v1/auth/* | `LFG_RATE_AUTH` | — |
| `rest_read` | other GET/HEAD /api/v1/* | `LFG_RATE_REST_READ` | `LFG_RATE_REST_READ_IP` |
| `rest_write` | other /api/v1/* | `LFG_RATE_REST_WRITE` | `LFG_RATE_REST_WRITE_IP` |
| `ws_orders` | WS place, cancel, amend, cancel_all | `LFG_RATE_WS_ORDERS` | `LFG_RATE_WS_ORDERS_IP` |
| `ws_subscriptions` | WS subscribe, unsubscribe | `LFG_RATE_WS_SUBSCRIPTIONS` | `LFG_RATE_WS_SUBSCRIPTIONS_IP` |

The caller is the authenticated user, or the client IP when there is none; the IP bucket
is shared by everything from one address (IPv6: one /64). Failed logins are limited
separately, per account (`LFG_RATE_LOGIN_FAILURES`) and per IP
(`LFG_RATE_LOGIN_FAILURES_IP`): while either bucket is empty, logins for that account or
from that IP are refused with `rate_limited` before the password is checked.
"""

import functools
import hashlib
import ipaddress
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from loguru import logger

from server import metrics
from server.errors import ApiError


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_s` tokens a second into a bucket of `burst` tokens."""

    per_s: float
    burst: int


_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}
_RATE_RE = re.compile(r"(\d+)\s*/\s*([a-z]+)(?:\s*:\s*(\d+))?")


def parse_rate(text: str) -> Rate | None:
    """`"100/min"` (burst = 100), `"1000/s:2000"` (burst 2000), or `"off"` (None).
    Raises ValueError with the expected form otherwise."""
    t = text.strip().lower()
    if t == "off":
        return None
    m = _RATE_RE.fullmatch(t)
    unit = _UNITS.get(m.group(2)) if m else None
    if m is None or unit is None:
        raise ValueError(f"expected N/s, N/min or N/hour, optionally :BURST, or off; got {text!r}")
    n = int(m.group(1))
    burst = int(m.group(3)) if m.group(3) else n
    if n < 1 or burst < 1:
        raise ValueError(f"rate and burst must be at least 1; got {text!r}")
    return Rate(n / unit, burst)


Bucket = tuple[str, Rate]


class Limiter(Protocol):
    async def acquire(self, buckets: Sequence[Bucket], *, need: int = 1, cost: int = 1) -> float:
        """Take `cost` tokens from every bucket if each holds at least `need` (a bucket
        never goes below zero); otherwise take none. Returns 0.0 when granted, else the
        seconds until it would be."""
        ...

    async def close(self) -> None: ...


class MemoryLimiter:
    """Buckets in this process. At most `max_keys` buckets are kept: when there are
    more, buckets that have refilled completely (the same as new ones) are dropped, then
    the older half (by creation) if that was not enough."""

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets: dict[str, tuple[float, float, Rate]] = {}  # key -> (tokens, at, rate)
        self._max_keys = max_keys
        self._clock = clock

    async def acquire(self, buckets: Sequence[Bucket], *, need: int = 1, cost: int = 1) -> float:
        now = self._clock()
        store = self._buckets
        levels = []
        wait = 0.0
        for key, rate in buckets:
            b = store.get(key)
            tokens = float(rate.burst)
            if b is not None:
                refilled = b[0] + (now - b[1]) * rate.per_s
                if refilled < tokens:
                    tokens = refilled
            if tokens < need:
                wait = max(wait, (need - tokens) / rate.per_s)
            levels.append(tokens)
        if wait > 0:
            return wait
        if cost:
            for (key, rate), tokens in zip(buckets, levels, strict=True):
                store[key] = (tokens - cost if tokens > cost else 0.0, now, rate)
            if len(store) > self._max_keys:
                self._sweep(now)
        return 0.0

    def _sweep(self, now: float) -> None:
        self._buckets = {
            k: b for k, b in self._buckets.items() if b[0] + (now - b[1]) * b[2].per_s < b[2].burst
        }
        if len(self._buckets) > self._max_keys:
            items = list(self._buckets.items())
            self._buckets = dict(items[len(items) // 2 :])

    async def close(self) -> None:
        self._buckets.clear()


# KEYS: the buckets. ARGV: need, cost, then per key: per_s, burst.
# Each bucket is a hash {t: tokens, ts: seconds} that expires once it would be full.
_LUA = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) + tonumber(now_t[2]) / 1000000
local need = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local per_s = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  local v = redis.call('HMGET', key, 't', 'ts')
  local tokens = burst
  if v[1] then
    tokens = math.min(burst, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * per_s)
  end
  levels[i] = tokens
  if tokens < need then
    wait = math.max(wait, (need - tokens) / per_s)
  end
end
if wait > 0 then
  return tostring(wait)
end
if cost > 0 then
  for i, key in ipairs(KEYS) do
    local per_s = tonumber(ARGV[1 + 2 * i])
    local burst = tonumber(ARGV[2 + 2 * i])
    local tokens = math.max(0, levels[i] - cost)
    redis.call('HSET', key, 't', tostring(tokens), 'ts', tostring(now))
    redis.call('PEXPIRE', key, math.ceil((burst - tokens) / per_s * 1000) + 1000)
  end
end
return '0'
"""


class RedisLimiter:
    """Buckets in Redis under `prefix`, shared by every process using the same Redis.

    A request's buckets are checked and taken by one script call, so concurrent gateways
    cannot both take the last token. If Redis fails, the request is let through (rate
    limiting must not take trading down with it) and a warning is logged at most once a
    minute; /ready reports Redis as failing meanwhile. The keys of one call may live on
    different cluster slots: use a single Redis (or a replica set), not a Redis Cluster.
    """

    def __init__(self, redis: Any, *, prefix: str = "lfg:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_LUA)
        self._warned = 0.0

    async def acquire(self, buckets: Sequence[Bucket], *, need: int = 1, cost: int = 1) -> float:
        keys = [self._prefix + key for key, _ in buckets]
        args: list[Any] = [need, cost]
        for _, rate in buckets:
            args += [repr(rate.per_s), rate.burst]
        try:
            raw = await self._script(keys=keys, args=args)
        except Exception as exc:
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                logger.warning("rate limiter: Redis failed ({}); letting requests through", exc)
            return 0.0
        return float(raw.decode() if isinstance(raw, bytes) else raw)

    async def close(self) -> None:
        return None


@functools.lru_cache(maxsize=65536)
def ip_key(ip: str) -> str:
    """The bucket name of a client address: IPv4 as is, IPv6 by its /64."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return ip


def retry_after(wait_s: float) -> str:
    """A Retry-After value (whole seconds, at least 1) for a wait."""
    return str(max(1, math.ceil(wait_s)))


CLASSES = ("auth", "rest_read", "rest_write", "ws_orders", "ws_subscriptions")


class RateLimits:
    """The gateway's limits: `(caller rate, IP rate)` per class, and failed logins."""

    def __init__(
        self,
        limiter: Limiter,
        classes: dict[str, tuple[Rate | None, Rate | None]],
        login_account: Rate | None = None,
        login_ip: Rate | None = None,
    ) -> None:
        self.limiter = limiter
        self.classes = classes
        self.login_account = login_account
        self.login_ip = login_ip
        self._refused = {c: metrics.RATE_LIMITED.labels(c) for c in (*CLASSES, "login_failures")}

    @classmethod
    def from_settings(cls, settings: Any, limiter: Limiter) -> "RateLimits":
        def rate(name: str) -> Rate | None:
            return parse_rate(getattr(settings, "rate_" + name))

        classes: dict[str, tuple[Rate | None, Rate | None]] = {"auth": (rate("auth"), None)}
        for c in CLASSES[1:]:
            classes[c] = (rate(c), rate(c + "_ip"))
        return cls(limiter, classes, rate("login_failures"), rate("login_failures_ip"))

    async def check(self, limit_class: str, user_id: int | None, ip: str) -> float:
        """Take a token for one request of `limit_class`; 0.0 or the seconds to wait."""
        caller, per_ip = self.classes[limit_class]
        ipk = ip_key(ip)
        buckets: list[Bucket] = []
        if caller is not None:
            who = f"u{user_id}" if user_id is not None else "ip" + ipk
            buckets.append((f"{limit_class}:{who}", caller))
        if per_ip is not None:
            buckets.append((f"{limit_class}:all:{ipk}", per_ip))
        if not buckets:
            return 0.0
        wait = await self.limiter.acquire(buckets)
        if wait:
            self._refused[limit_class].inc()
        return wait

    def _login_buckets(self, email: str, ip: str) -> list[Bucket]:
        out: list[Bucket] = []
        if self.login_account is not None:
            # Hashed: the limiter's store (Redis) never holds email addresses.
            account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
            out.append((f"login_failures:acct:{account}", self.login_account))
        if self.login_ip is not None:
            out.append((f"login_failures:ip:{ip_key(ip)}", self.login_ip))
        return out

    async def check_login(self, email: str, ip: str) -> None:
        """Raise `rate_limited` (with Retry-After) while this account or IP has used up
        its failed logins."""
        buckets = self._login_buckets(email, ip)
        if not buckets:
            return
        wait = await self.limiter.acquire(buckets, need=1, cost=0)
        if wait:
            self._refused["login_failures"].inc()
            raise ApiError(
                "rate_limited",
                f"too many failed logins; retry in {retry_after(wait)} s",
                headers={"Retry-After": retry_after(wait)},
            )

    async def login_failed(self, email: str, ip: str) -> None:
        buckets = self._login_buckets(email, ip)
        if buckets:
            await self.limiter.acquire(buckets, need=0, cost=1)


def make_limiter(redis: Any | None) -> Limiter:
    """`RedisLimiter` when the process has Redis (REDIS_URL), else `MemoryLimiter`."""
    return RedisLimiter(redis) if redis is not None else MemoryLimiter()
