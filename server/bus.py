"""The Redis wire between gateways and shards (distributed mode, DESIGN.md §4).

- Commands: gateway → shard through one Redis stream per shard, `lfg:shard:{id}:cmds`,
  read by the consumer group `shards`. Each entry is one msgpack `Request` carrying a unique
  command id, the gateway's reply channel and an absolute deadline.
- Replies: shard → gateway through the gateway's pub/sub channel `lfg:gw:{gateway id}`,
  one message per committed batch per gateway (a list of `Reply`).
- Market data: `lfg:md:{market}` (one `MdBatch` per batch), private events
  `lfg:user:{user id}` (one `UserBatch` per batch), status changes of every market on
  `lfg:status`.
- Liveness: the active shard keeps `lfg:shard:{id}:alive` set with a 2 s expiry.

Everything is encoded once with msgspec (msgpack); engine events travel as the bytes the
shard stored in the `commands` table, so a replayed command's answer is the same bytes.
"""

from typing import Any

import msgspec

from engine.commands import AnyCommand
from engine.events import AnyEvent
from server.marketdata import PrivateMsg, PublicMsg
from server.schema import MarketMsg, TickerMsg

GROUP = "shards"
ALIVE_TTL_MS = 2000
#: Acknowledged entries are trimmed away; a backlog this deep would be past its deadlines.
STREAM_MAXLEN = 100_000


def stream_key(shard_id: int) -> str:
    return f"lfg:shard:{shard_id}:cmds"


def alive_key(shard_id: int) -> str:
    return f"lfg:shard:{shard_id}:alive"


def reply_channel(gateway_id: str) -> str:
    return f"lfg:gw:{gateway_id}"


def market_channel(market: str) -> str:
    return f"lfg:md:{market}"


def user_channel(user_id: int) -> str:
    return f"lfg:user:{user_id}"


STATUS_CHANNEL = "lfg:status"
#: a market was created or moved: gateways reload the market -> shard map
MARKETS_CHANNEL = "lfg:markets"


class Request(msgspec.Struct, array_like=True):
    """kind: cmd | snapshot | load | unload."""

    kind: str
    id: str
    reply_to: str
    deadline: int  # epoch ms: never executed after this
    cmd: AnyCommand | None = None
    market: str | None = None


class Reply(msgspec.Struct, array_like=True):
    id: str
    code: str | None = None  # None: success
    message: str = ""
    #: msgpack list[AnyEvent] on success (msgpack nil otherwise); kept raw: the same bytes
    #: the shard stored in `commands`
    events: msgspec.Raw = msgspec.Raw(b"\xc0")
    data: Any = None


class MdBatch(msgspec.Struct, array_like=True):
    ts: int
    public: list[PublicMsg]
    ticker: TickerMsg | None


class UserBatch(msgspec.Struct, array_like=True):
    ts: int
    private: list[PrivateMsg]
    account: bool


encode = msgspec.msgpack.Encoder().encode
decode_request = msgspec.msgpack.Decoder(Request).decode
decode_replies = msgspec.msgpack.Decoder(list[Reply]).decode
decode_events = msgspec.msgpack.Decoder(list[AnyEvent]).decode
decode_md = msgspec.msgpack.Decoder(MdBatch).decode
decode_user = msgspec.msgpack.Decoder(UserBatch).decode
decode_status = msgspec.msgpack.Decoder(list[MarketMsg]).decode
