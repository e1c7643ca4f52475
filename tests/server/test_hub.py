"""The hub's fan-out rules, with a client whose socket never drains."""

import asyncio
import json

from engine import Order
from server.gateway.hub import Client, Hub
from server.marketdata import BOOK, TRADE, BatchOut, PrivateMsg, PublicMsg
from server.schema import BookDeltaMsg, OrderMsg, TradeMsg, order_view


class StuckSocket:
    """send() never completes, as for a client that stopped reading."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.first = asyncio.Event()

    async def send(self, text: str) -> None:
        self.sent.append(text)
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def delta(seq: int, price: int = 50, qty: int = 1) -> PublicMsg:
    return PublicMsg("M", BOOK, BookDeltaMsg(market="M", seq=seq, side="bid", price=price, qty=qty))


async def test_a_client_that_stops_reading_gets_a_fresh_snapshot_instead_of_a_backlog() -> None:
    hub = Hub()
    sock = StuckSocket()
    client = Client(sock.send, sock.close, limit=10)
    hub.add_client(client)
    hub.install_replica("M", 0, [], [])
    hub.subscribe(client, "book:M")
    for seq in range(1, 12):  # the 11th overflows the queue of 10
        hub.publish(BatchOut([delta(seq, price=seq)], [], [], []))
    await asyncio.sleep(0)
    queued = [json.loads(t) for t in [*sock.sent, *(t for _, _, t in client.queue)]]
    assert [m["type"] for m in queued] == ["book_snapshot"]
    assert queued[0]["seq"] == 11 and len(queued[0]["bids"]) == 11
    assert sock.closed is None
    hub.remove_client(client)


async def test_replies_and_private_messages_survive_conflation() -> None:
    hub = Hub()
    sock = StuckSocket()
    client = Client(sock.send, sock.close, limit=10)
    client.user_id = 7
    hub.add_client(client)
    hub.install_replica("M", 0, [], [])
    hub.subscribe(client, "book:M")
    hub.subscribe(client, "orders")
    client.push('{"type":"placed","id":1}')
    order = OrderMsg(order=order_view(Order(
        1, 7, "M", "buy", "yes", "limit", "gtc", 50, 1, 0, 1, 0, 0, "open", None, 0, 0, None,
        None, False, "cancel_newest", None, False, True, 50, 50, 1,
    )))  # fmt: skip
    for seq in range(1, 12):
        hub.publish(
            BatchOut([delta(seq)], [], [PrivateMsg(7, "orders", order)] if seq == 3 else [], [])
        )
    await asyncio.sleep(0)
    msgs = [json.loads(t) for t in [*sock.sent, *(t for _, _, t in client.queue)]]
    kinds = [m["type"] for m in msgs]
    assert kinds[:3] == ["placed", "order", "book_snapshot"]
    # what follows the snapshot continues its seq without a gap
    snap = msgs[2]
    assert [m["seq"] for m in msgs[3:]] == list(range(snap["seq"] + 1, 12))
    hub.remove_client(client)


async def test_a_client_still_too_slow_is_disconnected_with_1013() -> None:
    hub = Hub()
    sock = StuckSocket()
    client = Client(sock.send, sock.close, limit=5)
    hub.add_client(client)
    hub.install_replica("M", 0, [], [])
    hub.subscribe(client, "book:M")
    for seq in range(1, 61):
        hub.publish(BatchOut([delta(seq)], [], [], []))
    for _ in range(5):
        await asyncio.sleep(0)
    assert sock.closed is not None and sock.closed[0] == 1013
    hub.remove_client(client)


async def test_a_gap_in_the_stream_rebuilds_the_replica_from_a_snapshot() -> None:
    hub = Hub()
    asked: list[str] = []

    async def snapshot(market: str) -> None:
        asked.append(market)
        hub.begin_snapshot(market)
        hub.install_replica(market, 10, [[40, 3]], [])

    hub.request_snapshot = snapshot
    hub.install_replica("M", 0, [], [])
    hub.publish(BatchOut([delta(1)], [], [], []))
    hub.publish(BatchOut([delta(5)], [], [], []))  # 2..4 never came
    for _ in range(5):
        await asyncio.sleep(0)
    assert asked == ["M"]
    assert hub.replicas["M"].seq == 10 and hub.replicas["M"].bids == {40: 3}


async def test_messages_that_arrive_while_a_snapshot_is_on_its_way_are_applied_after_it() -> None:
    hub = Hub()
    hub.begin_snapshot("M")
    trade = PublicMsg(
        "M",
        TRADE,
        TradeMsg(market="M", seq=6, trade_id="M-1", price=50, qty=1, taker_side="buy", ts=0),
    )
    hub.publish(BatchOut([delta(5, qty=9), trade, delta(7, qty=4)], [], [], []))
    hub.install_replica("M", 5, [[50, 9]], [])  # taken at seq 5: 6 and 7 are newer
    r = hub.replicas["M"]
    assert r.seq == 7 and r.bids == {50: 4}
