"""LFG's matching and accounting core: a pure, deterministic state machine.

`Engine.apply(command) -> list[Event]`; no I/O, no asyncio, no clock reads, no randomness.
Compiled by `make native` when a C compiler is present; `engine.native` says which build
runs (`BUILD`, `COMPILED`).
"""

from engine.native import BUILD, COMPILED  # first: it picks the build for what follows

# isort: split
from engine.accounts import Account, Position
from engine.commands import (
    AmendOrder,
    AnyCommand,
    CancelAll,
    CancelOrder,
    CloseMarket,
    Command,
    CreateMarket,
    CreditCash,
    DebitCash,
    HaltMarket,
    OpenMarket,
    PlaceOrder,
    ResolveMarket,
    Tick,
)
from engine.engine import Engine, EngineConfig
from engine.events import (
    AnyEvent,
    BookChanged,
    CashCredited,
    CashDebited,
    CommandRejected,
    Event,
    MarketCreated,
    MarketStatusChanged,
    OrderDeduplicated,
    OrdersCancelled,
    OrderUpdated,
    PayoutMade,
    PositionNetted,
    TradeExecuted,
)
from engine.markets import Market
from engine.orders import Order, OrderState
from engine.types import DoneReason, Reject

__all__ = [
    "BUILD",
    "COMPILED",
    "Account",
    "AmendOrder",
    "AnyCommand",
    "AnyEvent",
    "BookChanged",
    "CancelAll",
    "CancelOrder",
    "CashCredited",
    "CashDebited",
    "CloseMarket",
    "Command",
    "CommandRejected",
    "CreateMarket",
    "CreditCash",
    "DebitCash",
    "DoneReason",
    "Engine",
    "EngineConfig",
    "Event",
    "HaltMarket",
    "Market",
    "MarketCreated",
    "MarketStatusChanged",
    "OpenMarket",
    "Order",
    "OrderDeduplicated",
    "OrderState",
    "OrderUpdated",
    "OrdersCancelled",
    "PayoutMade",
    "PlaceOrder",
    "Position",
    "PositionNetted",
    "Reject",
    "ResolveMarket",
    "Tick",
    "TradeExecuted",
]
