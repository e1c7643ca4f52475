"""Who may do what: user routes need a token, admin routes an admin, and a user never sees
or touches another user's orders, fills or private channels (REST and WebSocket)."""

from typing import Any

import pytest
import pytest_asyncio

from tests.server.conftest import Live
from tests.server.wire import (
    assert_order,
    assert_rest_error,
    assert_serving,
    assert_ws_error,
    close_code,
    placed,
)

USER_ROUTES = [
    ("GET", "/me"),
    ("GET", "/me/api-keys"),
    ("POST", "/me/api-keys"),
    ("DELETE", "/me/api-keys/abc"),
    ("POST", "/auth/logout"),
    ("POST", "/orders"),
    ("GET", "/orders"),
    ("DELETE", "/orders"),
    ("GET", "/orders/1"),
    ("DELETE", "/orders/1"),
    ("GET", "/fills"),
    ("GET", "/account"),
]
ADMIN_ROUTES = [
    ("POST", "/admin/markets", {"ticker": "SHOULD-NOT-EXIST", "title": "x"}),
    ("POST", "/admin/markets/{t}/halt", None),
    ("POST", "/admin/markets/{t}/open", None),
    ("POST", "/admin/markets/{t}/close", None),
    ("POST", "/admin/markets/{t}/resolve", {"result": "yes"}),
    ("POST", "/admin/users/{uid}/credit", {"amount": 1_000_000}),
    ("GET", "/admin/users", None),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def alice(live: Live) -> tuple[int, str]:
    return await live.user()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bob(live: Live) -> tuple[int, str]:
    return await live.user()


@pytest.mark.parametrize(("method", "path"), USER_ROUTES)
@pytest.mark.parametrize("auth", [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer"])
async def test_user_routes_without_valid_credentials_are_401(
    live: Live, method: str, path: str, auth: str | None
) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    json = {"market": "X", "side": "buy", "outcome": "yes", "qty": 1} if method == "POST" else None
    r = await live.http.request(method, path, headers=headers, json=json)
    assert_rest_error(r, 401, "unauthorized")


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_admin_routes_are_403_for_traders_and_401_without_a_token(
    live: Live, alice: tuple[int, str], method: str, path: str, body: Any
) -> None:
    ticker = await live.market()
    uid, tok = alice
    url = path.format(t=ticker, uid=uid)
    before = (await live.http.get(f"/markets/{ticker}")).json()
    r = await live.http.request(method, url, json=body, headers=live.h(tok))
    assert_rest_error(r, 403, "forbidden")
    r = await live.http.request(method, url, json=body)
    assert_rest_error(r, 401, "unauthorized")
    assert (await live.http.get(f"/markets/{ticker}")).json() == before
    assert (await live.http.get("/markets/SHOULD-NOT-EXIST")).status_code == 404
    acct = (await live.http.get("/account", headers=live.h(tok))).json()
    assert acct["available"] + acct["held"] == 1_000_000


async def test_another_users_order_cannot_be_read_cancelled_or_amended(
    live: Live, alice: tuple[int, str], bob: tuple[int, str]
) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = alice, bob
    a, b = await live.ws(ta), await live.ws(tb)
    mine = await placed(a, ticker, price=30, qty=5, client_order_id="alice-1")
    oid = mine["order_id"]

    assert_rest_error(await live.http.get(f"/orders/{oid}", headers=live.h(tb)), 403, "forbidden")
    assert_rest_error(
        await live.http.delete(f"/orders/{oid}", headers=live.h(tb)), 403, "forbidden"
    )
    for op, fields in (("cancel", {"order_id": oid}), ("amend", {"order_id": oid, "qty": 1})):
        reply = await b.req(op, **fields)
        assert_ws_error(reply, "forbidden", reply["id"])
    # client order ids are per user: Bob's "alice-1" is not Alice's order
    reply = await b.req("cancel", client_order_id="alice-1")
    assert_ws_error(reply, "not_found", reply["id"])
    # Bob's cancel-alls leave Alice's order alone
    assert (await b.req("cancel_all"))["count"] == 0
    assert (await b.req("cancel_all", market=ticker))["count"] == 0
    assert (await live.http.delete("/orders", headers=live.h(tb))).json() == {"count": 0}

    got = await live.http.get(f"/orders/{oid}", headers=live.h(ta))
    assert_order(got.json()["order"], status="open", qty=5, remaining_qty=5)
    for w in (a, b):
        await w.close()


async def test_lists_show_only_the_callers_own_orders_and_fills(
    live: Live, alice: tuple[int, str], bob: tuple[int, str]
) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = alice, bob
    a, b = await live.ws(ta), await live.ws(tb)
    maker = await placed(a, ticker, price=55, qty=2)
    taker = await placed(b, ticker, outcome="no", price=45, qty=2)
    h_a, h_b = live.h(ta), live.h(tb)
    orders_a = (await live.http.get("/orders", params={"market": ticker}, headers=h_a)).json()
    orders_b = (await live.http.get("/orders", params={"market": ticker}, headers=h_b)).json()
    assert [o["order_id"] for o in orders_a["orders"]] == [maker["order_id"]]
    assert [o["order_id"] for o in orders_b["orders"]] == [taker["order_id"]]
    fills_a = (await live.http.get("/fills", params={"market": ticker}, headers=h_a)).json()
    fills_b = (await live.http.get("/fills", params={"market": ticker}, headers=h_b)).json()
    assert [f["order_id"] for f in fills_a["fills"]] == [maker["order_id"]]
    assert [f["order_id"] for f in fills_b["fills"]] == [taker["order_id"]]
    for w in (a, b):
        await w.close()


async def test_private_channels_carry_only_the_owners_messages(
    live: Live, alice: tuple[int, str], bob: tuple[int, str]
) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = alice, bob
    a, b = await live.ws(ta), await live.ws(tb)
    await b.req("subscribe", channels=["orders", "fills", "account"])
    await b.until(lambda m: m["type"] == "account")
    await placed(a, ticker, price=20, qty=1)
    await placed(a, ticker, price=21, qty=1)
    await b.drain(0.3)
    assert not [m for m in b.log if m["type"] in ("order", "fill")]
    assert len([m for m in b.log if m["type"] == "account"]) == 1
    for w in (a, b):
        await w.close()


async def test_private_channels_and_trading_need_auth_and_the_connection_stays_open(
    live: Live, alice: tuple[int, str]
) -> None:
    ticker = await live.market()
    w = await live.ws()
    for ch in ("orders", "fills", "account"):
        reply = await w.req("subscribe", channels=[f"book:{ticker}", ch])
        assert_ws_error(reply, "unauthorized", reply["id"])
    ops: list[tuple[str, dict[str, Any]]] = [
        ("place", {"market": ticker, "side": "buy", "outcome": "yes", "price": 5, "qty": 1}),
        ("cancel", {"order_id": "1"}),
        ("cancel", {"client_order_id": "x"}),
        ("cancel_all", {}),
        ("cancel_all", {"market": ticker}),
        ("amend", {"order_id": "1", "qty": 1}),
    ]
    for op, fields in ops:
        reply = await w.req(op, **fields)
        assert_ws_error(reply, "unauthorized", reply["id"])
    # nothing was subscribed by the refused requests: no snapshot arrived
    assert not [m for m in w.log if m["type"] == "book_snapshot"]
    # still open: authenticate now and it all works
    assert (await w.req("auth", token=alice[1]))["type"] == "authed"
    reply = await w.req("subscribe", channels=["orders", "fills", "account"])
    assert reply["type"] == "subscribed"
    await placed(w, ticker, price=5)
    await w.close()


@pytest.mark.parametrize("token", ["not-a-token", "x" * 4096, "lfg_bad_key"])
async def test_failed_websocket_auth_sends_unauthorized_and_closes_1008(
    live: Live, token: str
) -> None:
    w = await live.ws()
    await w.send({"op": "auth", "id": 9, "token": token})
    err = await w.recv()
    assert_ws_error(err, "unauthorized", 9)
    assert await close_code(w) == 1008
    await assert_serving(live)


async def test_a_second_auth_on_an_authed_connection_is_refused_and_keeps_the_first(
    live: Live, alice: tuple[int, str], bob: tuple[int, str]
) -> None:
    w = await live.ws(alice[1])
    reply = await w.req("auth", token=bob[1])
    assert_ws_error(reply, "invalid_message", reply["id"])
    reply = await w.req("auth", token="garbage")  # not re-checked, not closed
    assert_ws_error(reply, "invalid_message", reply["id"])
    ticker = await live.market()
    o = await placed(w, ticker, price=7)
    got = await live.http.get(f"/orders/{o['order_id']}", headers=live.h(alice[1]))
    assert got.status_code == 200  # the order is Alice's
    await w.close()
