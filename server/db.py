"""PostgreSQL: the local server for embedded mode, the pool, and plain-SQL migrations.

Migrations are `server/migrations/NNNN_name.sql`, applied in order, each in its own
transaction, against the `schema_migrations` table, under an advisory lock so that
several processes starting at once apply each migration exactly once.
"""

import re
import time
from pathlib import Path
from typing import Any

import asyncpg
from loguru import logger

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_MIGRATE_LOCK = 0x1F6_0001  # advisory lock key for migrations


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def migrations() -> list[tuple[int, str, str]]:
    """`(version, name, sql)` for every migration file, in version order."""
    out = []
    for path in sorted(MIGRATIONS_DIR.iterdir()):
        m = _MIGRATION_RE.match(path.name)
        if m:
            out.append((int(m.group(1)), m.group(2), path.read_text()))
    versions = [v for v, _, _ in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return out


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply the migrations this database lacks; returns the versions applied."""
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_ts bigint NOT NULL)"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_ts) VALUES ($1, $2, $3)",
                    version,
                    name,
                    now_ms(),
                )
            logger.info("applied migration {:04d}_{}", version, name)
            applied.append(version)
    return applied


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 10, **kw: Any) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, **kw)
    assert pool is not None
    return pool


class LocalPostgres:
    """A PostgreSQL server under `data_dir` (the `pgserver` package), for embedded mode and
    tests. It listens on a Unix socket only."""

    def __init__(self, data_dir: str | Path) -> None:
        try:
            import pgserver  # imported here: only embedded mode needs it
        except ImportError:
            raise RuntimeError(
                "no local PostgreSQL: the pgserver package is not installed (it has wheels for "
                "Python 3.12 only). Set DATABASE_URL to a PostgreSQL server, or use Python 3.12."
            ) from None

        path = Path(data_dir).resolve() / "pg"
        path.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(path, cleanup_mode="stop")

    def uri(self, database: str = "postgres") -> str:
        uri: str = self._server.get_uri(database)
        return uri

    def create_database(self, name: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"bad database name {name!r}")
        self._server.psql(f"CREATE DATABASE {name};")
        return self.uri(name)

    def stop(self) -> None:
        self._server.cleanup()
