"""Structured logs with loguru: one JSON object per line on stdout, human format on a TTY."""

import logging
import sys

from loguru import logger


class _InterceptHandler(logging.Handler):
    """Route stdlib logging (uvicorn, asyncpg) into loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def setup_logging(level: str = "INFO", json: bool | None = None) -> None:
    if json is None:
        json = not sys.stdout.isatty()
    logger.remove()
    logger.add(sys.stdout, level=level.upper(), serialize=json, backtrace=False, diagnose=False)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.INFO, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = [_InterceptHandler()]
        lg.propagate = False
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
