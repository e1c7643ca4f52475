"""A market: its book, positions, escrow, and lifecycle."""

from typing import Final

from engine.accounts import Position
from engine.book import Book
from engine.orders import OrderState

#: The lifecycle, in one place: (status, action) -> new status.
#: open -> halted <-> open -> closed -> resolved. Resolving an open or halted market closes
#: it first (the engine does both in one command).
TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    ("open", "halt"): "halted",
    ("halted", "open"): "open",
    ("open", "close"): "closed",
    ("halted", "close"): "closed",
    ("closed", "resolve"): "resolved",
}


class Market:
    """State of one market. `seq` numbers its public events; `escrow` holds 100 per pair."""

    __slots__ = (
        "book",
        "close_ts",
        "escrow",
        "fees",
        "last_price",
        "maker_fee_bps",
        "max_fee_bps",
        "positions",
        "result",
        "seq",
        "status",
        "stops",
        "taker_fee_bps",
        "ticker",
        "title",
        "trade_no",
        "volume",
    )

    def __init__(
        self,
        ticker: str,
        title: str = "",
        close_ts: int | None = None,
        maker_fee_bps: int = 0,
        taker_fee_bps: int = 0,
    ) -> None:
        self.ticker = ticker
        self.title = title
        self.close_ts = close_ts
        self.maker_fee_bps = maker_fee_bps
        self.taker_fee_bps = taker_fee_bps
        self.max_fee_bps = max(maker_fee_bps, taker_fee_bps)
        self.status = "open"
        self.result: str | None = None
        self.seq = 0
        self.book = Book(self)
        self.positions: dict[int, Position] = {}
        self.stops: list[OrderState] = []
        self.escrow = 0
        self.fees = 0
        self.last_price = 0
        self.volume = 0
        self.trade_no = 0

    @property
    def open_interest(self) -> int:
        """Outstanding YES/NO pairs."""
        return self.escrow // 100

    def position(self, user: int) -> Position:
        pos = self.positions.get(user)
        if pos is None:
            pos = self.positions[user] = Position()
        return pos
