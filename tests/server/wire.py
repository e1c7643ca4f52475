"""Shapes of PROTOCOL.md and small helpers the protocol tests share."""

from typing import Any

import httpx
import websockets

from tests.server.conftest import WS, Live

#: The Order object: PROTOCOL.md's fields, plus the extras the server documents in
#: server/schema.py (post_only, stp, stop_price, expires_at, fees, filled_cost, reason).
ORDER_KEYS = {
    "order_id",
    "client_order_id",
    "market",
    "side",
    "outcome",
    "type",
    "tif",
    "price",
    "qty",
    "filled_qty",
    "remaining_qty",
    "avg_price",
    "status",
    "created_ts",
    "updated_ts",
} | {"post_only", "stp", "stop_price", "expires_at", "fees", "filled_cost", "reason"}
FILL_KEYS = {
    "trade_id",
    "order_id",
    "market",
    "side",
    "outcome",
    "price",
    "qty",
    "fee",
    "liquidity",
    "ts",
}
MARKET_KEYS = {
    "ticker",
    "title",
    "rules",
    "status",
    "result",
    "close_ts",
    "maker_fee_bps",
    "taker_fee_bps",
    "best_bid",
    "best_ask",
    "last",
    "volume",
    "volume_24h",
    "open_interest",
    "seq",
    "created_ts",
}
TRADE_KEYS = {"trade_id", "market", "price", "qty", "taker_side", "ts"}
CANDLE_KEYS = {"ts", "open", "high", "low", "close", "volume"}
ACCOUNT_KEYS = {"available", "held", "positions"}
#: The codes no input can cause yet (no rate limiter; timeout/unavailable need a stalled
#: or dead shard; internal is a bug).
UNTRIGGERABLE = ("rate_limited", "timeout", "unavailable", "internal")


def assert_order(o: dict[str, Any], **expect: Any) -> None:
    assert set(o) == ORDER_KEYS, sorted(set(o) ^ ORDER_KEYS)
    assert isinstance(o["order_id"], str) and o["order_id"].isdigit()
    assert o["filled_qty"] + o["remaining_qty"] <= o["qty"]
    for k, v in expect.items():
        assert o[k] == v, (k, o[k], v, o)


def assert_rest_error(r: httpx.Response, status: int, code: str) -> None:
    """REST errors are `{"code", "message"}` with the code's HTTP status."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]


def assert_ws_error(msg: dict[str, Any], code: str, rid: int | None) -> None:
    """WebSocket errors are `{"type": "error", "code", "message", "id"}`."""
    assert set(msg) == {"type", "code", "message", "id"}, msg
    assert (msg["type"], msg["code"], msg["id"]) == ("error", code, rid), msg
    assert isinstance(msg["message"], str) and msg["message"]


async def place(w: WS, market: str, **terms: Any) -> dict[str, Any]:
    """Place a limit order over the WebSocket (buy YES 1 @ 50 unless told) and return the
    reply, whatever it is."""
    fields = {"side": "buy", "outcome": "yes", "type": "limit", "price": 50, "qty": 1}
    fields.update(terms)
    return await w.req("place", market=market, **fields)


async def placed(w: WS, market: str, **terms: Any) -> dict[str, Any]:
    """`place`, asserting it was accepted; the Order."""
    reply = await place(w, market, **terms)
    assert reply["type"] == "placed", reply
    order: dict[str, Any] = reply["order"]
    return order


async def rest_order(live: Live, token: str, market: str, **terms: Any) -> httpx.Response:
    body = {"market": market, "side": "buy", "outcome": "yes", "price": 50, "qty": 1}
    body.update(terms)
    return await live.http.post("/orders", json=body, headers=live.h(token))


async def assert_serving(live: Live, *conns: WS) -> None:
    """The server still answers: each given connection and a brand-new one get a pong."""
    fresh = await live.ws()
    try:
        for w in (*conns, fresh):
            pong = await w.req("ping")
            assert pong["type"] == "pong", pong
    finally:
        await fresh.close()


async def close_code(w: WS, timeout: float = 5.0) -> int | None:
    """Read until the server closes the connection; its close code."""
    try:
        while True:
            await w.recv(timeout)
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


async def account(live: Live, token: str) -> dict[str, Any]:
    r = await live.http.get("/account", headers=live.h(token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def pages(
    live: Live, path: str, key: str, headers: dict[str, str] | None = None, **params: Any
) -> list[list[dict[str, Any]]]:
    """Walk a paged list (`{key: [...], "next_cursor": ...}`) to its end; the pages."""
    out: list[list[dict[str, Any]]] = []
    cursor = None
    while len(out) < 1000:
        q = dict(params) if cursor is None else {**params, "cursor": cursor}
        r = await live.http.get(path, params=q, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {key, "next_cursor"}, body
        out.append(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("paging never ended")
