"""Wire shapes of the auth and profile endpoints (PROTOCOL.md, REST): request bodies are
decoded strictly (`forbid_unknown_fields`), replies are encoded as is. Ids are strings."""

from typing import Annotated

import msgspec
from msgspec import Meta

#: Long enough for any refresh token we issue; longer input is junk.
RefreshToken = Annotated[str, Meta(max_length=512)]
ApiKeyName = Annotated[str, Meta(min_length=1, max_length=64)]


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body: unknown fields are an error."""


class RegisterUser(Body):
    email: str
    password: str


class LogIn(Body):
    email: str
    password: str


class RefreshTokens(Body):
    refresh_token: RefreshToken


class LogOut(Body):
    refresh_token: RefreshToken | None = None


class CreateApiKey(Body):
    name: ApiKeyName


class Registered(msgspec.Struct, kw_only=True):
    user_id: str


class Tokens(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"
    user_id: str


class Me(msgspec.Struct, kw_only=True):
    user_id: str
    email: str
    role: str
    created_ts: int


class ApiKeyInfo(msgspec.Struct, kw_only=True):
    """A bot key as listed: never its secret."""

    key_id: str
    name: str
    created_ts: int
    last_used_ts: int | None


class ApiKeyCreated(msgspec.Struct, kw_only=True):
    """A new bot key; `secret` is the whole `lfg_<key_id>_<secret>` bearer token, shown once."""

    key_id: str
    name: str
    secret: str
    created_ts: int


class ApiKeyList(msgspec.Struct, kw_only=True):
    api_keys: list[ApiKeyInfo]


class UserSummary(msgspec.Struct, kw_only=True):
    user_id: str
    email: str
    role: str


class UserList(msgspec.Struct, kw_only=True):
    users: list[UserSummary]
    next_cursor: str | None
