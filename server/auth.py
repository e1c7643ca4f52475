"""Authentication: passwords, access and refresh tokens, bot API keys (DESIGN.md §6).

- Passwords: argon2id (argon2-cffi defaults), hashed and verified in a worker thread, at
  most one per CPU at a time, so the event loop (which also runs the matching shards)
  never waits on them and memory stays bounded (64 MiB per hash).
- Access tokens: JWT HS256 with `sub` (user id as a string), `role`, `type="access"`,
  `iat`, `exp`, `jti`. Stateless: they stay valid until `exp` even after logout, which is
  why they live 15 minutes.
- Refresh tokens: opaque `<token_id>.<secret>`, stored as sha256(secret). Each use spends
  the token and issues the next one of the same family with a fresh expiry; presenting a
  spent token again is taken as theft and revokes the whole family.
- API keys: `lfg_<key_id>_<secret>`, stored as sha256(secret) (the secret has 256 bits of
  entropy, so a fast hash is enough). A verified key is cached in this process for
  `API_KEY_CACHE_S` seconds: a key revoked by another process keeps working here for at
  most that long; a key revoked through this process stops at once.
"""

import asyncio
import hashlib
import hmac
import os
import secrets
from time import monotonic
from typing import Final, Literal

import asyncpg
import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from asyncpg.pool import PoolConnectionProxy
from loguru import logger

from server.config import Settings
from server.db import now_ms
from server.errors import ApiError
from server.schema_auth import ApiKeyCreated, ApiKeyInfo

PASSWORD_MIN: Final = 10
PASSWORD_MAX: Final = 256
EMAIL_MAX: Final = 254
ROLES: Final = ("trader", "admin")
API_KEY_PREFIX: Final = "lfg_"
API_KEY_CACHE_S: Final = 30.0
API_KEY_CACHE_MAX: Final = 10_000
#: `api_keys.last_used_ts` is written at most this often per key.
LAST_USED_EVERY_MS: Final = 60_000
MAX_API_KEYS: Final = 50
#: No token we issue is longer; longer input is rejected before any parsing.
MAX_TOKEN_LEN: Final = 4096

_BAD_LOGIN: Final = "wrong email or password"
_BAD_TOKEN: Final = "invalid or expired token"
_BAD_REFRESH: Final = "invalid or expired refresh token"


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the user, their role, and how they proved it."""

    user_id: int
    role: str
    kind: Literal["jwt", "api_key"]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    expires_in: int
    user_id: int


class User(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    email: str
    role: str
    created_ts: int


class _CachedKey(msgspec.Struct):
    secret_hash: bytes
    principal: Principal
    expires: float  # monotonic()
    touched_ms: int  # last_used_ts as last written (or read)


def check_password_policy(password: str) -> str | None:
    """The first rule `password` breaks, as a sentence, or None if it is acceptable."""
    if len(password) < PASSWORD_MIN:
        return f"Password must be at least {PASSWORD_MIN} characters long."
    if len(password) > PASSWORD_MAX:
        return f"Password must be at most {PASSWORD_MAX} characters long."
    if not any(c.isupper() for c in password):
        return "Password must contain an upper-case letter."
    if not any(c.islower() for c in password):
        return "Password must contain a lower-case letter."
    if not any(c.isdigit() for c in password):
        return "Password must contain a digit."
    if all(c.isalnum() for c in password):
        return "Password must contain a special character (not a letter or digit)."
    return None


def normalise_email(raw: str) -> str:
    """`raw` stripped and lower-cased, or `invalid_message` if it is not shaped like an
    address: one @, something before it, a dotted domain after it, at most 254 chars."""
    email = raw.strip().lower()
    local, _, domain = email.partition("@")
    labels = domain.split(".")
    if (
        len(email) > EMAIL_MAX
        or not local
        or "@" in domain
        or len(labels) < 2
        or not all(labels)
        or any(c.isspace() for c in email)
    ):
        raise ApiError("invalid_message", "email is not a valid address")
    return email


def _sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _unauthorized(message: str = _BAD_TOKEN) -> ApiError:
    return ApiError("unauthorized", message)


def _split_refresh_token(token: str) -> tuple[str, str]:
    token_id, sep, secret = token.partition(".")
    if not sep or not token_id or not secret or len(token) > MAX_TOKEN_LEN or not token.isascii():
        raise _unauthorized(_BAD_REFRESH)
    return token_id, secret


class AuthService:
    """Users, credentials, tokens and API keys over the `users`, `credentials`,
    `refresh_tokens` and `api_keys` tables."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        if not settings.jwt_secret:
            raise ValueError("AuthService needs settings.jwt_secret")
        self._pool = pool
        self._secret: str = settings.jwt_secret
        self._access_ttl_s = settings.access_token_ttl_s
        self._refresh_ttl_ms = settings.refresh_token_ttl_s * 1000
        self._hasher = PasswordHasher()
        self._hash_slots = asyncio.Semaphore(os.cpu_count() or 1)
        # A hash no password matches, as costly to verify as real ones: verified for
        # unknown emails so that they take as long as a wrong password. Made here, at
        # start, so that even the first such login costs no more than the others.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))
        self._key_cache: dict[str, _CachedKey] = {}
        # Bumped by every revocation here, so that a lookup that raced a revocation
        # does not put the revoked key back into the cache.
        self._revocations = 0

    # -- passwords ----------------------------------------------------------------------

    async def _hash_password(self, password: str) -> str:
        async with self._hash_slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify_password(self, password_hash: str, password: str) -> bool:
        async with self._hash_slots:
            return await asyncio.to_thread(self._verify_sync, password_hash, password)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _check_password(self, password: str) -> None:
        rule = check_password_policy(password)
        if rule is not None:
            raise ApiError("invalid_message", rule)

    # -- users --------------------------------------------------------------------------

    async def register(self, email: str, password: str) -> int:
        """A new trader with an empty account; `conflict` if the email is taken."""
        email = normalise_email(email)
        self._check_password(password)
        password_hash = await self._hash_password(password)
        now = now_ms()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                user_id: int = await conn.fetchval(
                    "INSERT INTO users (email, role, created_ts) VALUES ($1, 'trader', $2)"
                    " RETURNING user_id",
                    email,
                    now,
                )
                await conn.execute(
                    "INSERT INTO credentials (user_id, password_hash, updated_ts)"
                    " VALUES ($1, $2, $3)",
                    user_id,
                    password_hash,
                    now,
                )
                await conn.execute(
                    "INSERT INTO accounts (user_id, available, held) VALUES ($1, 0, 0)", user_id
                )
        except asyncpg.UniqueViolationError:
            raise ApiError("conflict", "email already registered") from None
        logger.info("registered user {}", user_id)
        return user_id

    async def ensure_admin(self, email: str, password: str) -> int:
        """Create the admin account, or make the existing user with that email an admin
        with this password (revoking their sessions if the password changed). Raises
        ValueError if the email or password is unacceptable."""
        try:
            email = normalise_email(email)
            self._check_password(password)
        except ApiError as exc:
            raise ValueError(f"admin account: {exc.message}") from None
        row = await self._pool.fetchrow(
            "SELECT c.password_hash FROM users u JOIN credentials c USING (user_id)"
            " WHERE lower(u.email) = $1",
            email,
        )
        keep = row is not None and await self._verify_password(row["password_hash"], password)
        new_hash = None if keep else await self._hash_password(password)
        now = now_ms()
        async with self._pool.acquire() as conn, conn.transaction():
            user_id: int = await conn.fetchval(
                "INSERT INTO users (email, role, created_ts) VALUES ($1, 'admin', $2)"
                " ON CONFLICT ((lower(email))) DO UPDATE SET role = 'admin' RETURNING user_id",
                email,
                now,
            )
            if new_hash is not None:
                await conn.execute(
                    "INSERT INTO credentials (user_id, password_hash, updated_ts)"
                    " VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE"
                    " SET password_hash = EXCLUDED.password_hash, updated_ts = EXCLUDED.updated_ts",
                    user_id,
                    new_hash,
                    now,
                )
                await self._revoke_user_sessions(conn, user_id, now)
            await conn.execute(
                "INSERT INTO accounts (user_id) VALUES ($1) ON CONFLICT DO NOTHING", user_id
            )
        logger.info("admin account ready: user {}", user_id)
        return user_id

    async def get_user(self, user_id: int) -> User:
        row = await self._pool.fetchrow(
            "SELECT user_id, email, role, created_ts FROM users WHERE user_id = $1", user_id
        )
        if row is None:
            raise ApiError("not_found", "unknown user")
        return User(**dict(row))

    async def find_users(
        self, email: str | None, limit: int, after: int | None
    ) -> tuple[list[User], int | None]:
        """Users by id, after the cursor `after`, optionally only the one with `email`
        (matched case-insensitively); and the next cursor if there may be more."""
        rows = await self._pool.fetch(
            "SELECT user_id, email, role, created_ts FROM users"
            " WHERE ($1::text IS NULL OR lower(email) = $1) AND user_id > $2"
            " ORDER BY user_id LIMIT $3",
            None if email is None else email.strip().lower(),
            after or 0,
            limit,
        )
        users = [User(**dict(r)) for r in rows]
        return users, (users[-1].user_id if len(users) == limit else None)

    # -- sessions -----------------------------------------------------------------------

    async def login(self, email: str, password: str) -> TokenPair:
        """A new session (a new refresh token family). Unknown email and wrong password
        fail alike, after the same amount of hashing."""
        if len(password) > PASSWORD_MAX:
            raise _unauthorized(_BAD_LOGIN)
        row = await self._pool.fetchrow(
            "SELECT u.user_id, u.role, c.password_hash FROM users u"
            " JOIN credentials c USING (user_id) WHERE lower(u.email) = $1",
            email.strip().lower(),
        )
        if row is None:
            await self._verify_password(self._dummy_hash, password)
            raise _unauthorized(_BAD_LOGIN)
        if not await self._verify_password(row["password_hash"], password):
            raise _unauthorized(_BAD_LOGIN)
        user_id: int = row["user_id"]
        now = now_ms()
        if self._hasher.check_needs_rehash(row["password_hash"]):
            await self._pool.execute(
                "UPDATE credentials SET password_hash = $2, updated_ts = $3 WHERE user_id = $1",
                user_id,
                await self._hash_password(password),
                now,
            )
        async with self._pool.acquire() as conn, conn.transaction():
            # Expired tokens can do nothing any more; drop them so the table stays small.
            await conn.execute(
                "DELETE FROM refresh_tokens WHERE user_id = $1 AND expires_ts < $2", user_id, now
            )
            return await self._issue_pair(conn, user_id, row["role"], secrets.token_hex(16), now)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend `refresh_token` and issue the next pair of its family. A token presented
        after it was spent revokes the whole family (it was copied: RFC 9700 §4.14)."""
        token_id, secret = _split_refresh_token(refresh_token)
        now = now_ms()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT r.family_id, r.user_id, r.token_hash, r.expires_ts, r.spent_ts,"
                " r.revoked_ts, u.role FROM refresh_tokens r JOIN users u USING (user_id)"
                " WHERE r.token_id = $1 FOR UPDATE OF r",
                token_id,
            )
            if row is None or not hmac.compare_digest(row["token_hash"], _sha256(secret)):
                raise _unauthorized(_BAD_REFRESH)
            if row["revoked_ts"] is not None:
                raise _unauthorized(_BAD_REFRESH)
            if row["spent_ts"] is None:
                if row["expires_ts"] <= now:
                    raise _unauthorized(_BAD_REFRESH)
                await conn.execute(
                    "UPDATE refresh_tokens SET spent_ts = $2 WHERE token_id = $1",
                    token_id,
                    now,
                )
                return await self._issue_pair(
                    conn, row["user_id"], row["role"], row["family_id"], now
                )
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_ts = $2"
                " WHERE family_id = $1 AND revoked_ts IS NULL",
                row["family_id"],
                now,
            )
        # Outside the transaction: the family's revocation is committed.
        logger.warning("refresh token reused: session of user {} revoked", row["user_id"])
        raise _unauthorized(_BAD_REFRESH)

    async def logout(self, user_id: int, refresh_token: str | None) -> None:
        """Revoke the family of `refresh_token` (which must be the user's), or every
        session of the user. Access tokens already issued live on until they expire."""
        now = now_ms()
        if refresh_token is None:
            async with self._pool.acquire() as conn:
                await self._revoke_user_sessions(conn, user_id, now)
            return
        token_id, secret = _split_refresh_token(refresh_token)
        row = await self._pool.fetchrow(
            "SELECT family_id, user_id, token_hash FROM refresh_tokens WHERE token_id = $1",
            token_id,
        )
        if (
            row is None
            or row["user_id"] != user_id
            or not hmac.compare_digest(row["token_hash"], _sha256(secret))
        ):
            raise _unauthorized(_BAD_REFRESH)
        await self._pool.execute(
            "UPDATE refresh_tokens SET revoked_ts = $2 WHERE family_id = $1 AND revoked_ts IS NULL",
            row["family_id"],
            now,
        )

    async def _revoke_user_sessions(
        self, conn: PoolConnectionProxy, user_id: int, now: int
    ) -> None:
        await conn.execute(
            "UPDATE refresh_tokens SET revoked_ts = $2 WHERE user_id = $1 AND revoked_ts IS NULL",
            user_id,
            now,
        )

    async def _issue_pair(
        self, conn: PoolConnectionProxy, user_id: int, role: str, family_id: str, now: int
    ) -> TokenPair:
        token_id = secrets.token_hex(16)
        secret = secrets.token_urlsafe(32)
        await conn.execute(
            "INSERT INTO refresh_tokens (token_id, family_id, user_id, token_hash, issued_ts,"
            " expires_ts) VALUES ($1, $2, $3, $4, $5, $6)",
            token_id,
            family_id,
            user_id,
            _sha256(secret),
            now,
            now + self._refresh_ttl_ms,
        )
        return TokenPair(
            access_token=self.issue_access_token(user_id, role, now),
            refresh_token=f"{token_id}.{secret}",
            expires_in=self._access_ttl_s,
            user_id=user_id,
        )

    # -- access tokens ------------------------------------------------------------------

    def issue_access_token(self, user_id: int, role: str, now: int | None = None) -> str:
        iat = (now_ms() if now is None else now) // 1000
        claims = {
            "sub": str(user_id),
            "role": role,
            "type": "access",
            "iat": iat,
            "exp": iat + self._access_ttl_s,
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify_access_token(self, token: str) -> Principal:
        """The principal of a valid access JWT; only HS256 with our secret is accepted."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "iat", "sub", "type"]},
            )
        except jwt.PyJWTError:
            raise _unauthorized() from None
        sub, role = claims["sub"], claims.get("role")
        if claims["type"] != "access" or not (sub.isascii() and sub.isdigit()) or role not in ROLES:
            raise _unauthorized()
        return Principal(int(sub), role, "jwt")

    async def authenticate_token(self, token: str) -> Principal:
        """The principal of an access JWT or an API key (`lfg_…`), or `unauthorized`."""
        if len(token) > MAX_TOKEN_LEN or not token.isascii():
            raise _unauthorized()
        if token.startswith(API_KEY_PREFIX):
            return await self._authenticate_api_key(token)
        return self.verify_access_token(token)

    # -- API keys -----------------------------------------------------------------------

    async def create_api_key(self, user_id: int, name: str) -> ApiKeyCreated:
        """A new bot key. Its secret is in the result and nowhere else: only its hash is kept."""
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = now_ms()
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialises key creation per user so the cap holds under concurrency.
            await conn.execute("SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE", user_id)
            active = await conn.fetchval(
                "SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_ts IS NULL", user_id
            )
            if active >= MAX_API_KEYS:
                raise ApiError("conflict", f"at most {MAX_API_KEYS} API keys per user")
            await conn.execute(
                "INSERT INTO api_keys (key_id, user_id, name, secret_hash, created_ts)"
                " VALUES ($1, $2, $3, $4, $5)",
                key_id,
                user_id,
                name,
                _sha256(secret),
                now,
            )
        logger.info("user {} created API key {}", user_id, key_id)
        return ApiKeyCreated(
            key_id=key_id, name=name, secret=f"{API_KEY_PREFIX}{key_id}_{secret}", created_ts=now
        )

    async def list_api_keys(self, user_id: int) -> list[ApiKeyInfo]:
        """The user's keys that are not revoked, oldest first."""
        rows = await self._pool.fetch(
            "SELECT key_id, name, created_ts, last_used_ts FROM api_keys"
            " WHERE user_id = $1 AND revoked_ts IS NULL ORDER BY created_ts, key_id",
            user_id,
        )
        return [ApiKeyInfo(**dict(r)) for r in rows]

    async def revoke_api_key(self, user_id: int, key_id: str) -> None:
        """Revoke one of the user's keys; `not_found` for unknown, revoked or others' keys."""
        found = await self._pool.fetchval(
            "UPDATE api_keys SET revoked_ts = $3"
            " WHERE key_id = $1 AND user_id = $2 AND revoked_ts IS NULL RETURNING key_id",
            key_id,
            user_id,
            now_ms(),
        )
        # After the commit: a lookup in flight that read the key before it does not cache it.
        self._revocations += 1
        self._key_cache.pop(key_id, None)
        if found is None:
            raise ApiError("not_found", "unknown API key")
        logger.info("user {} revoked API key {}", user_id, key_id)

    async def _authenticate_api_key(self, token: str) -> Principal:
        key_id, sep, secret = token[len(API_KEY_PREFIX) :].partition("_")
        if not sep or not key_id or not secret:
            raise _unauthorized()
        digest = _sha256(secret)
        mono = monotonic()
        entry = self._key_cache.get(key_id)
        if entry is None or entry.expires <= mono:
            revocations = self._revocations
            row = await self._pool.fetchrow(
                "SELECT k.user_id, k.secret_hash, k.last_used_ts, u.role FROM api_keys k"
                " JOIN users u USING (user_id) WHERE k.key_id = $1 AND k.revoked_ts IS NULL",
                key_id,
            )
            if row is None:
                self._key_cache.pop(key_id, None)
                raise _unauthorized()
            entry = _CachedKey(
                secret_hash=bytes(row["secret_hash"]),
                principal=Principal(row["user_id"], row["role"], "api_key"),
                expires=mono + API_KEY_CACHE_S,
                touched_ms=row["last_used_ts"] or 0,
            )
            if hmac.compare_digest(entry.secret_hash, digest) and revocations == self._revocations:
                self._cache_key(key_id, entry, mono)
        if not hmac.compare_digest(entry.secret_hash, digest):
            raise _unauthorized()
        await self._touch_api_key(key_id, entry)
        return entry.principal

    def _cache_key(self, key_id: str, entry: _CachedKey, mono: float) -> None:
        if len(self._key_cache) >= API_KEY_CACHE_MAX:
            for k in [k for k, e in self._key_cache.items() if e.expires <= mono]:
                del self._key_cache[k]
            if len(self._key_cache) >= API_KEY_CACHE_MAX:
                self._key_cache.clear()
        self._key_cache[key_id] = entry

    async def _touch_api_key(self, key_id: str, entry: _CachedKey) -> None:
        """Record use, at most once per `LAST_USED_EVERY_MS` per key (also across
        processes: the UPDATE's condition)."""
        now = now_ms()
        if now - entry.touched_ms < LAST_USED_EVERY_MS:
            return
        entry.touched_ms = now
        try:
            await self._pool.execute(
                "UPDATE api_keys SET last_used_ts = $2 WHERE key_id = $1"
                " AND (last_used_ts IS NULL OR last_used_ts <= $2 - $3::bigint)",
                key_id,
                now,
                LAST_USED_EVERY_MS,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            # Bookkeeping only: a valid key still authenticates.
            logger.warning("could not record use of API key {}: {}", key_id, type(exc).__name__)
