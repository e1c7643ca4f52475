"""LFG load scenarios, the shared protocol client and the demo market maker.

`from loadtest import LfgClient, LfgSocket, BookReplica, LfgError` is the client API
(see `loadtest.client` and docs/BOTS.md).
"""

from loadtest.client import (
    BookReplica,
    LfgClient,
    LfgConnectionClosed,
    LfgError,
    LfgSocket,
    LfgTimeoutError,
    connect,
    ws_url,
)

__all__ = [
    "BookReplica",
    "LfgClient",
    "LfgConnectionClosed",
    "LfgError",
    "LfgSocket",
    "LfgTimeoutError",
    "connect",
    "ws_url",
]
