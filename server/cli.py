"""`lfg serve | migrate`: the command line."""

import argparse
import asyncio
import sys

import uvicorn
from loguru import logger

from server import config
from server.db import LocalPostgres, migrate
from server.logs import setup_logging


def _dsn(settings: config.Settings) -> tuple[str, LocalPostgres | None]:
    if settings.database_url:
        return settings.database_url, None
    pg = LocalPostgres(settings.data_dir)
    logger.info("started local PostgreSQL under {}/pg (no DATABASE_URL given)", settings.data_dir)
    return pg.uri(), pg


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        settings = config.load(host=args.host, port=args.port, data_dir=args.data_dir)
    except config.ConfigError as exc:
        print(f"lfg: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    if settings.jwt_secret_generated:
        logger.warning(
            "LFG_JWT_SECRET is not set: using a random secret for this run only; every token "
            "dies when the process stops. Set LFG_JWT_SECRET (32+ characters) to keep sessions."
        )
    logger.info("settings: {}", settings.describe())
    from server.gateway.app import build_app

    dsn, pg = _dsn(settings)
    hook = None
    if args.demo:
        from server.demo import start_demo

        async def hook(services):  # type: ignore[no-untyped-def]
            return await start_demo(services, settings)

    app = build_app(settings, dsn, on_started=hook)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            ws_max_size=64 * 1024,
            # Compression costs more CPU than it saves on small JSON messages.
            ws_per_message_deflate=False,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    )
    try:
        server.run()
    finally:
        if pg is not None:
            pg.stop()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = config.load(data_dir=args.data_dir)
    setup_logging(settings.log_level)
    dsn, pg = _dsn(settings)

    async def run() -> list[int]:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    try:
        applied = asyncio.run(run())
    finally:
        if pg is not None:
            pg.stop()
    print(f"applied migrations: {applied or 'none (up to date)'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lfg", description="LFG: a binary prediction-market exchange")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the embedded server: gateway + every shard")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--data-dir", default=None)
    s.add_argument("--demo", action="store_true", help="demo markets, users and a market-maker bot")
    s.set_defaults(func=cmd_serve)
    m = sub.add_parser("migrate", help="apply database migrations")
    m.add_argument("--data-dir", default=None)
    m.set_defaults(func=cmd_migrate)
    args = p.parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
