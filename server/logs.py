"""Structured logs with loguru: one JSON object per line on stdout, human format on a TTY.

A JSON line is a compact object, not loguru's `serialize=True` record:

    {"ts": "2025-01-31T12:00:00.123Z", "level": "INFO", "msg": "...", "logger": "server.auth",
     "request_id": "…", "user_id": 42, ...extra}

`request_id` and `user_id` come from the request being served (`REQUEST`, a context
variable set by the request-context middleware for HTTP requests and by the WebSocket
session for each message); they are left out when unknown. `extra` is what the call site
bound (`logger.bind(route=...)`); keys that look like credentials (password, token,
secret, authorization, cookie, api key) are replaced by "***" whatever their value.
Nothing here logs request bodies; call sites must not either.

Sinks run synchronously in the thread that logs (no `enqueue=True`), which is what lets
them read the context variable.
"""

import logging
import re
import sys
import traceback
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC
from typing import TYPE_CHECKING, Any

import msgspec
from loguru import logger

if TYPE_CHECKING:
    from loguru import Message, Record


class RequestInfo:
    """The request (or WebSocket message) being served, for the log lines it causes."""

    __slots__ = ("request_id", "user_id")

    def __init__(self, request_id: str, user_id: int | None = None) -> None:
        self.request_id = request_id
        self.user_id = user_id


REQUEST: ContextVar[RequestInfo | None] = ContextVar("lfg_request", default=None)

#: A client's X-Request-ID is used when it is 1-64 characters of these.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_SENSITIVE_KEY_RE = re.compile(r"pass|token|secret|authori[sz]ation|cookie|api_?key", re.I)
_CORE = ("ts", "level", "msg", "logger", "request_id", "user_id")
_encode = msgspec.json.Encoder(enc_hook=repr).encode


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(header: str | None) -> str:
    """The client's request id when well-formed, else a new one."""
    if header is not None and _REQUEST_ID_RE.fullmatch(header):
        return header
    return new_request_id()


def set_user(user_id: int) -> None:
    """Record who the current request is from (its later log lines carry `user_id`)."""
    info = REQUEST.get()
    if info is not None:
        info.user_id = user_id


def current_request_id() -> str | None:
    info = REQUEST.get()
    return None if info is None else info.request_id


def render_json(record: "Record") -> str:
    """The JSON line (without newline) for a loguru record."""
    out: dict[str, Any] = {
        "ts": record["time"]
        .astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "level": record["level"].name,
        "msg": record["message"],
        "logger": record["name"],
    }
    info = REQUEST.get()
    if info is not None:
        out["request_id"] = info.request_id
        if info.user_id is not None:
            out["user_id"] = info.user_id
    for key, value in record["extra"].items():
        if key in _CORE or key.startswith("_"):
            continue
        out[key] = "***" if _SENSITIVE_KEY_RE.search(key) else value
    exc = record["exception"]
    if exc is not None and exc.type is not None:
        out["exc"] = "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
    return _encode(out).decode()


class JsonSink:
    """A loguru sink writing one JSON object per line to `write` (default: sys.stdout,
    looked up at each call so that a replaced stdout is honoured)."""

    def __init__(self, write: Callable[[str], Any] | None = None) -> None:
        self._write = write

    def __call__(self, message: "Message") -> None:
        line = render_json(message.record) + "\n"
        if self._write is not None:
            self._write(line)
            return
        sys.stdout.write(line)
        sys.stdout.flush()


def _human_format(record: "Record") -> str:
    info = REQUEST.get()
    ctx = ""
    if info is not None:
        ctx = f" [{info.request_id}" + (f" u{info.user_id}" if info.user_id else "") + "]"
    record["extra"]["_ctx"] = ctx
    return (
        "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
        "<cyan>{name}</cyan>{extra[_ctx]} {message}\n{exception}"
    )


class _InterceptHandler(logging.Handler):
    """Route stdlib logging (uvicorn, asyncpg) into loguru, under the stdlib logger's name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        name = record.name

        def rename(r: "Record") -> None:
            r["name"] = name

        logger.patch(rename).opt(exception=record.exc_info).log(level, record.getMessage())


def setup_logging(level: str = "INFO", json: bool | None = None) -> None:
    """Log to stdout at `level`: JSON lines, or the human format when stdout is a TTY."""
    if json is None:
        json = not sys.stdout.isatty()
    logger.remove()
    if json:
        logger.add(JsonSink(), level=level.upper(), backtrace=False, diagnose=False)
    else:
        logger.add(
            sys.stdout,
            level=level.upper(),
            format=_human_format,
            colorize=True,
            backtrace=False,
            diagnose=False,
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.INFO, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = [_InterceptHandler()]
        lg.propagate = False
    # The request-context middleware writes one access line per request (with its id).
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
