"""Bad input over the WebSocket gets an `invalid_message` error (the id echoed when it can
be read) or a close code, and never stops the server serving anyone else."""

import asyncio
import json
from typing import Any

import pytest
import pytest_asyncio

from tests.server.conftest import Live
from tests.server.wire import assert_serving, assert_ws_error, close_code

M = "MALFORMED"  # a real market, created by the module fixture
PLACE = {"op": "place", "market": M, "side": "buy", "outcome": "yes", "price": 5, "qty": 1}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def trader(live: Live) -> str:
    r = await live.admin("POST", "/admin/markets", json={"ticker": M, "title": "malformed"})
    assert r.status_code == 201
    _, tok = await live.user(credit=10_000)
    return tok


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def channels(live: Live) -> list[str]:
    """211 distinct public channels of real markets, more than one connection may hold."""
    tickers = await asyncio.gather(*(live.market() for _ in range(70)))
    return ["markets"] + [f"{kind}:{t}" for t in tickers for kind in ("book", "trades", "ticker")]


def place(rid: Any, **changes: Any) -> str:
    msg: dict[str, Any] = {**PLACE, "id": rid, **changes}
    return json.dumps({k: v for k, v in msg.items() if v is not DROP})


DROP = object()

#: (raw text, the id the error must echo)
CASES: list[tuple[str, str, int | None]] = [
    ("not-json", "{not json", None),
    ("empty", "", None),
    ("truncated", '{"op": "ping", "id": 3', None),
    ("array", "[1, 2]", None),
    ("scalar", "42", None),
    ("null", "null", None),
    ("nan", '{"op": "ping", "id": NaN}', None),
    ("deep-nesting", "[" * 10_000 + "]" * 10_000, None),
    ("no-op", '{"id": 5}', 5),
    ("unknown-op", '{"op": "fly", "id": 6}', 6),
    ("op-not-a-string", '{"op": 5, "id": 7}', 7),
    ("unknown-field", '{"op": "ping", "id": 8, "extra": 1}', 8),
    ("unknown-field-on-place", place(9, colour="red"), 9),
    ("missing-market", place(10, market=DROP), 10),
    ("missing-qty", place(11, qty=DROP), 11),
    ("missing-side", place(12, side=DROP), 12),
    ("qty-string", place(13, qty="10"), 13),
    ("qty-zero", place(14, qty=0), 14),
    ("qty-negative", place(15, qty=-1), 15),
    ("qty-1e12", place(16, qty=10**12), 16),
    ("qty-beyond-int64", place(17, qty=10**30), 17),
    ("qty-float", place(18, qty=1.5), 18),
    ("qty-bool", place(19, qty=True), 19),
    ("price-100", place(20, price=100), 20),
    ("price-0", place(21, price=0), 21),
    ("price-negative", place(22, price=-5), 22),
    ("price-string", place(23, price="50"), 23),
    ("side-unknown", place(24, side="hold"), 24),
    ("outcome-unknown", place(25, outcome="maybe"), 25),
    ("type-unknown", place(26, type="iceberg"), 26),
    ("tif-unknown", place(27, tif="day"), 27),
    ("stp-unknown", place(28, stp="none"), 28),
    ("post-only-string", place(29, post_only="yes"), 29),
    ("market-lower-case", place(30, market="lower"), 30),
    ("market-too-long", place(31, market="A" * 65), 31),
    ("market-not-a-string", place(32, market=7), 32),
    ("client-order-id-empty", place(33, client_order_id=""), 33),
    ("client-order-id-too-long", place(34, client_order_id="x" * 65), 34),
    ("expires-at-negative", place(35, tif="gtd", expires_at=-1), 35),
    ("id-negative", place(-1), None),
    ("id-string", place("abc"), None),
    ("id-beyond-2**53", place(2**60), None),
    ("id-bool", place(True), None),
    ("cancel-order-id-negative", '{"op": "cancel", "id": 40, "order_id": "-1"}', 40),
    ("cancel-order-id-int", '{"op": "cancel", "id": 41, "order_id": 5}', 41),
    ("cancel-order-id-empty", '{"op": "cancel", "id": 42, "order_id": ""}', 42),
    ("cancel-order-id-20-digits", '{"op": "cancel", "id": 43, "order_id": "' + "9" * 20 + '"}', 43),
    (
        "cancel-order-id-over-int64",
        '{"op": "cancel", "id": 44, "order_id": "' + "9" * 19 + '"}',
        44,
    ),
    ("cancel-order-id-33-digits", '{"op": "cancel", "id": 45, "order_id": "' + "1" * 33 + '"}', 45),
    ("cancel-neither-id", '{"op": "cancel", "id": 46}', 46),
    ("amend-qty-zero", '{"op": "amend", "id": 47, "order_id": "1", "qty": 0}', 47),
    ("amend-qty-huge", '{"op": "amend", "id": 48, "order_id": "1", "qty": 1000000000000}', 48),
    ("amend-missing-qty", '{"op": "amend", "id": 49, "order_id": "1"}', 49),
    (
        "amend-order-id-over-int64",
        '{"op": "amend", "id": 50, "order_id": "9223372036854775808", "qty": 1}',
        50,
    ),
    ("cancel-all-market-lower", '{"op": "cancel_all", "id": 51, "market": "x"}', 51),
    ("subscribe-not-a-list", '{"op": "subscribe", "id": 52, "channels": "markets"}', 52),
    ("subscribe-empty-list", '{"op": "subscribe", "id": 53, "channels": []}', 53),
    ("subscribe-empty-name", '{"op": "subscribe", "id": 54, "channels": [""]}', 54),
    ("subscribe-long-name", '{"op": "subscribe", "id": 55, "channels": ["' + "b" * 81 + '"]}', 55),
    ("subscribe-unknown-channel", '{"op": "subscribe", "id": 56, "channels": ["news"]}', 56),
    ("unsubscribe-missing", '{"op": "unsubscribe", "id": 57}', 57),
    ("auth-empty-token", '{"op": "auth", "id": 58, "token": ""}', 58),
    ("auth-token-not-a-string", '{"op": "auth", "id": 59, "token": 1}', 59),
    ("second-auth", '{"op": "auth", "id": 60, "token": "anything"}', 60),
]


@pytest.mark.parametrize(("text", "rid"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_malformed_message_is_invalid_message_and_the_connection_keeps_serving(
    live: Live, trader: str, text: str, rid: int | None
) -> None:
    w = await live.ws(trader)
    await w.send(text)
    assert_ws_error(await w.recv(), "invalid_message", rid)
    await assert_serving(live, w)
    # nothing was placed by any of it
    r = await live.http.get("/orders", headers=live.h(trader))
    assert r.json()["orders"] == []
    await w.close()


async def test_binary_frames_are_refused_and_the_connection_stays(live: Live, trader: str) -> None:
    w = await live.ws(trader)
    for frame in (b'{"op": "ping", "id": 1}', b"\x00\xff\xfe", b""):
        await w.send(frame)
        assert_ws_error(await w.recv(), "invalid_message", None)
    await assert_serving(live, w)
    await w.close()


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1 << 20])
async def test_a_message_over_64_kib_closes_the_connection_1009(live: Live, size: int) -> None:
    w, bystander = await live.ws(), await live.ws()
    pad = "x" * (size - len('{"op": "ping", "id": 1, "pad": ""}'))
    await w.send('{"op": "ping", "id": 1, "pad": "' + pad + '"}')
    assert await close_code(w) == 1009
    await assert_serving(live, bystander)
    await bystander.close()


async def test_a_message_just_under_64_kib_is_read(live: Live) -> None:
    w = await live.ws()
    chans = [f"book:{'A' * 75}"] * 100  # 100 long names: decodes, then not_found
    text = json.dumps({"op": "subscribe", "id": 1, "channels": chans})
    text = text[:-1] + " " * (64 * 1024 - len(text)) + "}"
    assert len(text) == 64 * 1024
    await w.send(text)
    assert_ws_error(await w.recv(), "not_found", 1)
    await w.close()


async def test_a_thousand_subscriptions_in_one_message_are_refused(
    live: Live, channels: list[str]
) -> None:
    w = await live.ws()
    many = channels + [f"book:NOPE{i}" for i in range(1000 - len(channels))]
    reply = await w.req("subscribe", channels=many)
    assert_ws_error(reply, "invalid_message", reply["id"])
    await w.drain(0.1)
    assert not [m for m in w.log if m["type"] == "book_snapshot"]  # none of it subscribed
    await assert_serving(live, w)
    await w.close()


async def test_a_thousand_subscriptions_in_many_messages_stop_at_200_per_connection(
    live: Live, channels: list[str]
) -> None:
    w = await live.ws()
    names = channels + [f"book:NOPE{i}" for i in range(1000 - len(channels))]
    for i, ch in enumerate(names):
        await w.send({"op": "subscribe", "id": i, "channels": [ch]})
    replies: dict[int, dict[str, Any]] = {}
    while len(replies) < 1000:
        m = await w.recv()
        if m["type"] in ("subscribed", "error"):
            replies[m["id"]] = m
    assert all(replies[i]["type"] == "subscribed" for i in range(200))
    for i in range(200, 1000):
        assert_ws_error(replies[i], "invalid_message", i)
    # snapshots came for the books subscribed, none for the refused
    await w.drain(0.2)
    snaps = {m["market"] for m in w.log if m["type"] == "book_snapshot"}
    assert snaps == {ch.split(":")[1] for ch in names[:200] if ch.startswith("book:")}
    # a slot freed is a slot usable; the cap holds again after
    assert (await w.req("unsubscribe", channels=[names[0]]))["type"] == "unsubscribed"
    assert (await w.req("subscribe", channels=[names[200]]))["type"] == "subscribed"
    reply = await w.req("subscribe", channels=[names[0]])
    assert_ws_error(reply, "invalid_message", reply["id"])
    # re-subscribing to a channel already held does not count against the cap
    assert (await w.req("subscribe", channels=[names[1]]))["type"] == "subscribed"
    await assert_serving(live, w)
    await w.close()


async def test_many_bad_messages_in_a_row_leave_the_connection_usable(
    live: Live, trader: str
) -> None:
    w = await live.ws(trader)
    for i in range(300):
        await w.send(CASES[i % len(CASES)][1])
    errors = 0
    while errors < 300:
        m = await w.recv()
        assert m["type"] == "error", m
        errors += 1
    await assert_serving(live, w)
    await w.close()
