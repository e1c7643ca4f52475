"""The order book of one market, in YES terms: bids and asks at integer cents 1..99.

Each side is an array of 101 price levels (index = price) with the best price tracked;
each level is a FIFO of orders. Orders that leave a level from the middle are removed
lazily: they stay in the deque with `remaining_qty == 0` until they reach its front or the
level is compacted, so cancel is O(1).
"""

from collections import deque
from typing import Final

from engine.orders import Order

#: Compact a level when its dead entries outnumber live ones by this margin.
_COMPACT_SLACK: Final = 16


class Level:
    """All resting orders at one price on one side. `qty` is the sum of their remaining."""

    __slots__ = ("live", "market", "orders", "price", "qty", "side")

    def __init__(self, market: str, side: str, price: int) -> None:
        self.market = market
        self.side = side
        self.price = price
        self.orders: deque[Order] = deque()
        self.qty = 0
        self.live = 0

    def append(self, order: Order) -> None:
        self.orders.append(order)
        self.qty += order.remaining_qty
        self.live += 1

    def drop(self, order: Order, qty: int) -> None:
        """An order of this level left it (its remaining `qty` no longer rests here)."""
        self.qty -= qty
        self.live -= 1
        if len(self.orders) > 2 * self.live + _COMPACT_SLACK:
            self.orders = deque(o for o in self.orders if o.remaining_qty)

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Live orders in priority order."""
        return (o for o in self.orders if o.remaining_qty)


class BookSide:
    """One side of the book. `best` is the best price, or `empty` (0 for bids, 100 for asks).

    `step` is the direction from best to worse prices: -1 for bids, +1 for asks.
    """

    __slots__ = ("best", "empty", "is_bid", "levels", "name", "step")

    def __init__(self, market: str, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.name = "bid" if is_bid else "ask"
        self.step = -1 if is_bid else 1
        self.empty = 0 if is_bid else 100
        self.best = self.empty
        self.levels = [Level(market, self.name, p) for p in range(101)]

    def add(self, order: Order) -> Level:
        """Rest `order` at the back of its level; returns that level."""
        p = order.book_price
        level = self.levels[p]
        level.append(order)
        if (p - self.best) * self.step < 0:  # better than best (an empty side is worst)
            self.best = p
        return level

    def settle_best(self) -> None:
        """Move `best` past empty levels (after a level emptied)."""
        p = self.best
        levels = self.levels
        step = self.step
        empty = self.empty
        while p != empty and not levels[p].qty:
            p += step
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

    def __init__(self, market: str) -> None:
        self.bids = BookSide(market, True)
        self.asks = BookSide(market, False)
