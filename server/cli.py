"""`lfg serve | migrate`: the command line."""

import argparse
import asyncio
import sys
from typing import Any

import uvicorn
from loguru import logger

from server import config
from server.db import LocalPostgres, migrate
from server.logs import setup_logging


def engine_build() -> str:
    """Which build of the engine this process runs (compiled, or interpreted and why)."""
    from engine import BUILD

    return BUILD


def _dsn(settings: config.Settings) -> tuple[str, LocalPostgres | None]:
    if settings.database_url:
        return settings.database_url, None
    pg = LocalPostgres(settings.data_dir)
    logger.info("started local PostgreSQL under {}/pg (no DATABASE_URL given)", settings.data_dir)
    return pg.uri(), pg


class DrainingServer(uvicorn.Server):
    """uvicorn, with a drain before its shutdown: on SIGTERM/SIGINT the services refuse new
    commands and let those in flight commit and answer; then uvicorn stops accepting,
    closes the connections and runs the lifespan shutdown (shards stop). A second signal
    skips the drain."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._draining = False

    def handle_exit(self, sig: int, frame: object) -> None:
        app = self.config.app
        services = getattr(getattr(app, "state", None), "services", None)
        if self._draining or services is None:
            super().handle_exit(sig, frame)  # type: ignore[arg-type]
            return
        self._draining = True
        loop = asyncio.get_event_loop()

        async def drain_then_exit() -> None:
            try:
                await services.drain()
            finally:
                uvicorn.Server.handle_exit(self, sig, frame)  # type: ignore[arg-type]

        loop.call_soon_threadsafe(lambda: loop.create_task(drain_then_exit()))


def _run_app(app: Any, settings: config.Settings) -> None:
    """Serve until SIGTERM/SIGINT (drained first: see DrainingServer)."""
    DrainingServer(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            ws_max_size=64 * 1024,  # the protocol's limit: larger messages close with 1009
            # Compression costs more CPU than it saves on small JSON messages.
            ws_per_message_deflate=False,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    ).run()


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
    logger.info("matching engine: {}", engine_build())
    from server.gateway.app import build_app

    dsn, pg = _dsn(settings)
    hook = None
    if args.demo:
        from server.demo import start_demo

        async def hook(services):  # type: ignore[no-untyped-def]
            return await start_demo(services, settings)

    app = build_app(settings, dsn, on_started=hook)
    try:
        _run_app(app, settings)
    finally:
        if pg is not None:
            pg.stop()
    return 0


def _distributed_settings(args: argparse.Namespace, **overrides: Any) -> config.Settings:
    try:
        settings = config.load(embedded=False, **overrides)
    except config.ConfigError as exc:
        print(f"lfg: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for name, value in (("DATABASE_URL", settings.database_url), ("REDIS_URL", settings.redis_url)):
        if not value:
            print(
                f"lfg: configuration error: {name} is required for `lfg {args.command}`",
                file=sys.stderr,
            )
            raise SystemExit(2)
    return settings


def cmd_gateway(args: argparse.Namespace) -> int:
    """A stateless gateway: REST, WebSocket and market data, shards reached over Redis."""
    settings = _distributed_settings(args, host=args.host, port=args.port)
    setup_logging(settings.log_level)
    logger.info("gateway settings: {}", settings.describe())
    from server.gateway.app import build_app

    assert settings.database_url is not None
    _run_app(build_app(settings, settings.database_url, distributed=True), settings)
    return 0


def cmd_shard(args: argparse.Namespace) -> int:
    """One shard (active, or a hot standby waiting for the active one's lock)."""
    settings = _distributed_settings(args)
    setup_logging(settings.log_level)
    if not 0 <= args.id < settings.shards:
        print(
            f"lfg: --id must be 0..{settings.shards - 1} (LFG_SHARDS={settings.shards})",
            file=sys.stderr,
        )
        return 2
    from server.shardproc import run_shard

    logger.info("matching engine: {}", engine_build())
    assert settings.database_url is not None and settings.redis_url is not None
    asyncio.run(run_shard(settings, settings.database_url, settings.redis_url, args.id))
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    """Redis, PostgreSQL, shards with standbys and gateways on this machine."""
    import os
    import signal
    import threading

    from server.cluster import Cluster

    setup_logging("INFO")
    c = Cluster(
        gateways=args.gateways,
        shards=args.shards,
        standby=args.standby,
        base_port=args.port,
        data_dir=args.data_dir,
        database_url=os.environ.get("DATABASE_URL"),
        redis_url=os.environ.get("REDIS_URL"),
        admin_email=os.environ.get("LFG_ADMIN_EMAIL"),
        admin_password=os.environ.get("LFG_ADMIN_PASSWORD"),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        c.start()
        print(f"redis: {c.redis_url}")
        for sid, procs in c.shard_procs.items():
            print(
                f"shard {sid}: pids {[p.pid for p in procs]} (1 active, {len(procs) - 1} standby)"
            )
        for url in c.urls():
            print(f"gateway: {url}/  (ws: {url.replace('http', 'ws')}/ws/v1)")
        print(f"logs: {c.tmp}/*.log — Ctrl-C stops everything", flush=True)
        stop.wait()
    finally:
        c.stop()
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
    g = sub.add_parser(
        "gateway", help="run a gateway (needs DATABASE_URL, REDIS_URL, LFG_JWT_SECRET)"
    )
    g.add_argument("--host", default=None)
    g.add_argument("--port", type=int, default=None)
    g.set_defaults(func=cmd_gateway)
    sh = sub.add_parser(
        "shard", help="run one shard (a second process with the same id is a hot standby)"
    )
    sh.add_argument("--id", type=int, required=True)
    sh.set_defaults(func=cmd_shard)
    cl = sub.add_parser("cluster", help="run Redis, PostgreSQL, shards and gateways locally")
    cl.add_argument("--gateways", type=int, default=2)
    cl.add_argument("--shards", type=int, default=2)
    cl.add_argument("--standby", type=int, default=1)
    cl.add_argument("--port", type=int, default=8000, help="first gateway port")
    cl.add_argument("--data-dir", default=None)
    cl.set_defaults(func=cmd_cluster)
    m = sub.add_parser("migrate", help="apply database migrations")
    m.add_argument("--data-dir", default=None)
    m.set_defaults(func=cmd_migrate)
    args = p.parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
