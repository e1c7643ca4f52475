"""Settings: one typed object, read from the environment once at start, validated.

Every field is an environment variable (`LFG_` + upper-case name, except `DATABASE_URL`
and `REDIS_URL`). A bad value stops the process with a message naming the variable and
what it expects. `describe()` prints the settings without secrets.
"""

import os
import re
import secrets
from collections.abc import Mapping
from typing import Any

import msgspec

from server.ratelimit import parse_rate


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(msgspec.Struct, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = "./var"
    database_url: str | None = None
    redis_url: str | None = None
    jwt_secret: str | None = None
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 7 * 24 * 3600
    admin_email: str | None = None
    admin_password: str | None = None
    shards: int = 1
    max_batch: int = 2000
    max_open_orders: int = 1000
    #: a place repeating the client_order_id of an order finished this recently, with the
    #: same terms, is a retry and returns that order (0: off)
    retry_window_ms: int = 60_000
    db_pool_min: int = 2
    db_pool_max: int = 10
    command_timeout_ms: int = 5000
    ws_queue_limit: int = 2000
    #: Comma-separated origins allowed by CORS and the WebSocket Origin check, e.g.
    #: "https://app.example,https://admin.example"; empty: same origin only.
    cors_origins: str = ""
    max_body_bytes: int = 64 * 1024
    #: Token buckets (server/ratelimit.py): "N/s", "N/min" or "N/hour", optionally
    #: ":BURST" (default N), or "off". Caller = the user, or the IP when anonymous.
    rate_auth: str = "60/min"
    rate_login_failures: str = "5/min"
    rate_login_failures_ip: str = "20/min"
    rate_rest_read: str = "100/min"
    rate_rest_read_ip: str = "600/min"
    rate_rest_write: str = "100/min"
    rate_rest_write_ip: str = "600/min"
    rate_ws_orders: str = "1000/s:2000"
    rate_ws_orders_ip: str = "20000/s:40000"
    rate_ws_subscriptions: str = "10/s:100"
    rate_ws_subscriptions_ip: str = "100/s:1000"
    #: Response cache TTLs (server/cache.py); 0 turns that kind of entry off.
    cache_ttl_ms: int = 10_000
    cache_quote_ttl_ms: int = 1000
    log_level: str = "INFO"
    embedded: bool = True
    #: `lfg shard` serves /metrics on this port (0: off); gateways serve it on their port
    metrics_port: int = 0
    #: True when no LFG_JWT_SECRET was given and a random one was made (tokens die with
    #: the process); the server warns loudly.
    jwt_secret_generated: bool = False

    def describe(self) -> dict[str, Any]:
        """The settings with secrets masked, for the start-up log line."""
        out = msgspec.structs.asdict(self)
        for k in ("jwt_secret", "admin_password"):
            if out[k]:
                out[k] = "***"
        for k in ("database_url", "redis_url"):
            if out[k]:
                out[k] = _mask_url(out[k])
        return out


_ENV_NAMES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}

_LIMITS: dict[str, tuple[int, int]] = {
    "port": (1, 65535),
    "metrics_port": (0, 65535),
    "access_token_ttl_s": (30, 86400),
    "refresh_token_ttl_s": (300, 90 * 86400),
    "shards": (1, 64),
    "max_batch": (1, 100_000),
    "max_open_orders": (1, 1_000_000),
    "retry_window_ms": (0, 3_600_000),
    "db_pool_min": (1, 1000),
    "db_pool_max": (1, 1000),
    "command_timeout_ms": (10, 600_000),
    "ws_queue_limit": (10, 1_000_000),
    "max_body_bytes": (1024, 16 * 1024 * 1024),
    "cache_ttl_ms": (0, 3_600_000),
    "cache_quote_ttl_ms": (0, 3_600_000),
}
_ORIGIN_RE = re.compile(r"https?://[a-z0-9.\-\[\]:]+")


def cors_origins(s: Settings) -> list[str]:
    """`LFG_CORS_ORIGINS` as a list of lower-case origins (`scheme://host[:port]`)."""
    return [o.strip().lower().rstrip("/") for o in s.cors_origins.split(",") if o.strip()]


def env_name(field: str) -> str:
    return _ENV_NAMES.get(field, "LFG_" + field.upper())


def _mask_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def load(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from `env` (default: os.environ), then keyword overrides (CLI flags)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        name = env_name(field.name)
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        if field.type is int:
            try:
                values[field.name] = int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        elif field.type is bool:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ConfigError(f"{name} must be true or false, got {raw!r}")
            values[field.name] = raw.lower() in ("1", "true", "yes")
        else:
            values[field.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    s = Settings(**values)
    for limited, (lo, hi) in _LIMITS.items():
        v = getattr(s, limited)
        if not lo <= v <= hi:
            raise ConfigError(f"{env_name(limited)} must be between {lo} and {hi}, got {v}")
    if s.db_pool_min > s.db_pool_max:
        raise ConfigError("LFG_DB_POOL_MIN must not exceed LFG_DB_POOL_MAX")
    if s.log_level.upper() not in ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"LFG_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {s.log_level!r}"
        )
    if s.jwt_secret is not None and len(s.jwt_secret) < 32:
        raise ConfigError("LFG_JWT_SECRET must be at least 32 characters")
    for rate_field in msgspec.structs.fields(Settings):
        if rate_field.name.startswith("rate_"):
            try:
                parse_rate(getattr(s, rate_field.name))
            except ValueError as exc:
                raise ConfigError(f"{env_name(rate_field.name)}: {exc}") from None
    for origin in cors_origins(s):
        if not _ORIGIN_RE.fullmatch(origin):
            raise ConfigError(
                f"LFG_CORS_ORIGINS: {origin!r} is not an origin like https://app.example "
                "(scheme and host, optional port, no path; '*' is not accepted)"
            )
    if (s.admin_email is None) != (s.admin_password is None):
        raise ConfigError("LFG_ADMIN_EMAIL and LFG_ADMIN_PASSWORD go together")
    if s.jwt_secret is None:
        if not s.embedded:
            raise ConfigError("LFG_JWT_SECRET is required outside embedded mode")
        s.jwt_secret = secrets.token_urlsafe(48)
        s.jwt_secret_generated = True
    return s
