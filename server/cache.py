"""Cache-aside for the read-heavy public REST routes: market list and detail, trades,
candles.

Replies are stored as the JSON bytes sent, in Redis when REDIS_URL is set (shared by every
gateway), otherwise in this process (`MemoryCache`, bounded, TTL per entry).

Invalidation. Every committed batch passes through the hub's `publish`; the markets that
had a trade or a status change in it (and markets just created) are invalidated there:
their detail, trades and candles, and the market list. Book changes that move only the
best bid/ask do not invalidate anything: the market list and detail live
`LFG_CACHE_QUOTE_TTL_MS` (1 s) so their quotes, last price and 24 h volume are at most that
old; trades and candles live `LFG_CACHE_TTL_MS` (10 s), which only bounds how long the
default candle window (which ends "now") lags. A TTL of 0 turns that kind off.

Races. Each scope (one market, or the list) has a generation that invalidation bumps. A
miss reads the generation before the database and stores its reply only if the
generation is unchanged, so a read that overlapped a trade never stores its stale reply.
"""

import asyncio
import functools
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from loguru import logger
from starlette.requests import Request
from starlette.responses import Response

from server import metrics

LIST_SCOPE = "list"
#: Keys longer than this (odd query strings, odd path parameters) bypass the cache.
MAX_KEY = 512


def market_scope(ticker: str) -> str:
    return "m:" + ticker


class CacheBackend(Protocol):
    async def get(self, scope: str, key: str) -> tuple[bytes | None, int]:
        """The entry (None if absent or expired) and the scope's generation."""
        ...

    async def put(self, scope: str, key: str, gen: int, value: bytes, ttl_s: float) -> None:
        """Store the entry if the scope is still at generation `gen`."""
        ...

    def invalidate(self, scopes: Iterable[str]) -> None:
        """Bump the scopes' generations: their entries are dead from now on."""
        ...

    async def close(self) -> None: ...


class MemoryCache:
    """Entries in this process, at most `max_entries` (least recently stored dropped)."""

    def __init__(
        self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._gens: dict[str, int] = {}
        self._entries: OrderedDict[tuple[str, str], tuple[float, int, bytes]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    async def get(self, scope: str, key: str) -> tuple[bytes | None, int]:
        gen = self._gens.get(scope, 0)
        e = self._entries.get((scope, key))
        if e is None or e[1] != gen or e[0] <= self._clock():
            return None, gen
        return e[2], gen

    async def put(self, scope: str, key: str, gen: int, value: bytes, ttl_s: float) -> None:
        if self._gens.get(scope, 0) != gen:
            return
        k = (scope, key)
        self._entries.pop(k, None)
        self._entries[k] = (self._clock() + ttl_s, gen, value)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def invalidate(self, scopes: Iterable[str]) -> None:
        for s in scopes:
            self._gens[s] = self._gens.get(s, 0) + 1

    async def close(self) -> None:
        self._entries.clear()


# Keys: the generation of scope S is `lfg:c:{S}`, an entry `lfg:c:{S}:<gen>:<key>` (one
# hash slot per scope). A Lua table ends at its first nil: a missing entry is {gen}.
_GET = """
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', KEYS[1] .. ':' .. gen .. ':' .. ARGV[1])}
"""
_PUT = """
local gen = redis.call('GET', KEYS[1]) or '0'
if gen ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1] .. ':' .. gen .. ':' .. ARGV[2], ARGV[3], 'PX', ARGV[4])
return 1
"""
#: Generations outlive every entry by far; they expire so that dead markets' go away.
_GEN_TTL_MS = 24 * 3600 * 1000


class RedisCache:
    """Entries in Redis, shared by every gateway. Redis failures count as misses (and
    the reply is not stored); a warning is logged at most once a minute."""

    def __init__(self, redis: Any, *, prefix: str = "lfg:c:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._get = redis.register_script(_GET)
        self._put = redis.register_script(_PUT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._warned = 0.0

    def _gen_key(self, scope: str) -> str:
        return self._prefix + "{" + scope + "}"

    def _failed(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned > 60:
            self._warned = now
            logger.warning("cache: Redis {} failed ({})", what, exc)

    async def get(self, scope: str, key: str) -> tuple[bytes | None, int]:
        try:
            res = await self._get(keys=[self._gen_key(scope)], args=[key])
        except Exception as exc:
            self._failed("read", exc)
            return None, -1
        body = res[1] if len(res) > 1 else None
        return (None if body is None else bytes(body)), int(res[0])

    async def put(self, scope: str, key: str, gen: int, value: bytes, ttl_s: float) -> None:
        if gen < 0:
            return
        try:
            await self._put(
                keys=[self._gen_key(scope)], args=[gen, key, value, max(1, int(ttl_s * 1000))]
            )
        except Exception as exc:
            self._failed("write", exc)

    def invalidate(self, scopes: Iterable[str]) -> None:
        keys = [self._gen_key(s) for s in scopes]
        task = asyncio.get_running_loop().create_task(self._bump(keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bump(self, keys: list[str]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as p:
                for k in keys:
                    p.incr(k)
                    p.pexpire(k, _GEN_TTL_MS)
                await p.execute()
        except Exception as exc:
            self._failed("invalidation", exc)

    async def close(self) -> None:
        for t in list(self._tasks):
            await t


class ResponseCache:
    """What the routes (`cached`) and the hub (`invalidate_markets`) use."""

    def __init__(self, backend: CacheBackend, *, ttl_s: float, quote_ttl_s: float) -> None:
        self.backend = backend
        self.ttl_s = ttl_s
        self.quote_ttl_s = quote_ttl_s
        self._counters: dict[tuple[str, str], Any] = {}

    def invalidate_markets(self, markets: Iterable[str]) -> None:
        """These markets changed (trades, status, creation): drop them and the list."""
        self.backend.invalidate([LIST_SCOPE, *(market_scope(m) for m in markets)])

    def count(self, name: str, result: str) -> None:
        c = self._counters.get((name, result))
        if c is None:
            c = self._counters[(name, result)] = metrics.CACHE_REQUESTS.labels(name, result)
        c.inc()

    async def close(self) -> None:
        await self.backend.close()


Handler = Callable[[Request], Awaitable[Response]]


def cached(
    name: str, *, params: tuple[str, ...], per_market: bool, quote: bool
) -> Callable[[Handler], Handler]:
    """Serve a public GET route through the cache. The key is `name` with the values of
    `params` (other query parameters do not change the reply, so they are left out); the
    scope is the `{ticker}` path parameter when `per_market`, else the market list.
    `quote` routes use the short TTL. Only 200 replies are stored."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def route(request: Request) -> Response:
            cache: ResponseCache | None = getattr(request.app.state, "cache", None)
            ttl = 0.0 if cache is None else (cache.quote_ttl_s if quote else cache.ttl_s)
            if cache is None or ttl <= 0:
                return await handler(request)
            scope = market_scope(request.path_params["ticker"]) if per_market else LIST_SCOPE
            q = request.query_params
            key = name + "?" + urllib.parse.urlencode([(p, q.get(p, "")) for p in params])
            if len(scope) + len(key) > MAX_KEY:
                return await handler(request)
            body, gen = await cache.backend.get(scope, key)
            if body is not None:
                cache.count(name, "hit")
                return Response(body, media_type="application/json", headers={"X-Cache": "hit"})
            cache.count(name, "miss")
            resp = await handler(request)
            if resp.status_code == 200:
                await cache.backend.put(scope, key, gen, bytes(resp.body), ttl)
            resp.headers["X-Cache"] = "miss"
            return resp

        return route

    return wrap


def make_cache(settings: Any, redis: Any | None) -> ResponseCache:
    backend: CacheBackend = RedisCache(redis) if redis is not None else MemoryCache()
    return ResponseCache(
        backend,
        ttl_s=settings.cache_ttl_ms / 1000,
        quote_ttl_s=settings.cache_quote_ttl_ms / 1000,
    )
