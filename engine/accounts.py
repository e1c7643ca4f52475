"""Cash accounts and per-market positions."""


class Account:
    """A user's cash in cents: `available` to spend, `held` for open buy orders.

    `tracked` is set while the engine remembers the balance it had before its first change
    since the shard last took the changes (`base_available`, `base_held`).
    """

    __slots__ = ("available", "base_available", "base_held", "held", "tracked")

    def __init__(self, available: int = 0, held: int = 0) -> None:
        self.available = available
        self.held = held
        self.tracked = False
        self.base_available = 0
        self.base_held = 0

    def __repr__(self) -> str:
        return f"Account(available={self.available}, held={self.held})"


class Position:
    """Contracts of one market. After netting at most one of `yes`, `no` is non-zero.

    `*_reserved` are contracts promised to open sell orders (never more than held).
    """

    __slots__ = ("no", "no_reserved", "yes", "yes_reserved")

    def __init__(self, yes: int = 0, no: int = 0) -> None:
        self.yes = yes
        self.no = no
        self.yes_reserved = 0
        self.no_reserved = 0

    def __repr__(self) -> str:
        return (
            f"Position(yes={self.yes}, no={self.no}, "
            f"yes_reserved={self.yes_reserved}, no_reserved={self.no_reserved})"
        )
