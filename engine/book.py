"""The order book of one market, in YES terms: bids and asks at integer cents 1..99.

Each side is an array of 101 price levels (index = price) with the best price tracked;
each level is a FIFO of resting orders, a doubly linked list through the orders' own
`prev`/`next`, so that adding, filling the front and cancelling from the middle are all
O(1) with no dead entries left behind.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING

from engine.orders import OrderState

if TYPE_CHECKING:
    from engine.markets import Market


class Level:
    """All resting orders at one price on one side of `owner`'s book. `qty` is the sum of
    their remaining, `live` how many they are; `head` rests longest (trades first), `tail`
    arrived last."""

    __slots__ = (
        "dirty",
        "head",
        "live",
        "next_dirty",
        "owner",
        "price",
        "qty",
        "side",
        "tail",
    )

    def __init__(self, owner: "Market", side: str, price: int) -> None:
        self.owner = owner
        self.side = side
        self.price = price
        self.head: OrderState | None = None
        self.tail: OrderState | None = None
        self.qty = 0
        self.live = 0
        #: changed by the command being applied (the engine reports it once, at the end);
        #: `next_dirty` is the next level it changed
        self.dirty = False
        self.next_dirty: Level | None = None

    def append(self, order: OrderState) -> None:
        """Rest `order` at the back of the queue."""
        self._link_after(order, self.tail)

    def insert(self, order: OrderState) -> None:
        """Rest `order` in the place its `priority` gives it (recovery: any call order)."""
        after = self.tail
        while after is not None and after.priority > order.priority:
            after = after.prev
        self._link_after(order, after)

    def _link_after(self, order: OrderState, after: OrderState | None) -> None:
        """Put `order` in the queue right behind `after` (at the front when None)."""
        before = self.head if after is None else after.next
        order.prev = after
        order.next = before
        if before is None:
            self.tail = order
        else:
            before.prev = order
        if after is None:
            self.head = order
        else:
            after.next = order
        self.qty += order.remaining_qty
        self.live += 1

    def remove(self, order: OrderState, qty: int) -> None:
        """Take `order` out of the queue; its remaining `qty` no longer rests here."""
        prev = order.prev
        nxt = order.next
        if prev is None:
            self.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            self.tail = prev
        else:
            nxt.prev = prev
        order.prev = order.next = None
        self.qty -= qty
        self.live -= 1

    def __iter__(self) -> Iterator[OrderState]:
        """Resting orders in priority order."""
        o = self.head
        while o is not None:
            yield o
            o = o.next


class BookSide:
    """One side of the book. `best` is the best price, or `empty` (0 for bids, 100 for asks).

    `step` is the direction from best to worse prices: -1 for bids, +1 for asks.
    """

    __slots__ = ("best", "empty", "is_bid", "levels", "name", "step")

    def __init__(self, owner: "Market", is_bid: bool) -> None:
        self.is_bid = is_bid
        self.name = "bid" if is_bid else "ask"
        self.step = -1 if is_bid else 1
        self.empty = 0 if is_bid else 100
        self.best = self.empty
        self.levels = [Level(owner, self.name, p) for p in range(101)]

    def add(self, order: OrderState) -> Level:
        """Rest `order` at the back of its level; returns that level."""
        p = order.book_price
        level = self.levels[p]
        level.append(order)
        if (p - self.best) * self.step < 0:  # better than best (an empty side is worst)
            self.best = p
        return level

    def insert(self, order: OrderState) -> None:
        """Recovery: rest `order` where its `priority` puts it in its level."""
        p = order.book_price
        self.levels[p].insert(order)
        if (p - self.best) * self.step < 0:
            self.best = p

    def settle_best(self) -> None:
        """Move `best` past empty levels (after a level emptied)."""
        p = self.best
        levels = self.levels
        step = self.step
        empty = self.empty
        level = levels[p]
        while p != empty and not level.qty:
            p += step
            level = levels[p]
        self.best = p

    def crosses(self, limit: int) -> bool:
        """Would an opposite order with book price `limit` trade with this side's best?"""
        return self.best != self.empty and (limit - self.best) * self.step >= 0

    def depth(self, n: int | None = None) -> list[list[int]]:
        """`[[price, qty], ...]` best first, at most `n` levels."""
        out: list[list[int]] = []
        p = self.best
        while p != self.empty and (n is None or len(out) < n):
            q = self.levels[p].qty
            if q:
                out.append([p, q])
            p += self.step
        return out


class Book:
    __slots__ = ("asks", "bids")

    def __init__(self, owner: "Market") -> None:
        self.bids = BookSide(owner, True)
        self.asks = BookSide(owner, False)
