"""Shared fixtures. PostgreSQL: one local server per test session (pgserver) unless
LFG_TEST_DATABASE_URL names one; each test that asks for `db_url` gets a fresh database."""

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest


def missing_tool(message: str) -> NoReturn:
    """A test needs a tool this machine lacks: skip it here, fail it in CI (`CI` set),
    where .ci/run installs every tool, so that CI never passes by skipping."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    if os.environ.get("LFG_TEST_DATABASE_URL"):
        yield None
        return
    from server.db import LocalPostgres

    # Unix socket paths are limited to ~100 bytes: keep the directory short.
    root = tempfile.mkdtemp(prefix="lfgpg")
    pg = LocalPostgres(root)
    yield pg
    pg.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db_url(pg_server: object) -> str:
    """A fresh, empty database for this test."""
    return new_database(pg_server)


def new_database(pg_server: object) -> str:
    """Create a fresh, empty database and return its URL."""
    base = os.environ.get("LFG_TEST_DATABASE_URL")
    name = "t_" + uuid.uuid4().hex[:12]
    if base:
        import asyncio

        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(base)
            try:
                await conn.execute(f"CREATE DATABASE {name}")
            finally:
                await conn.close()

        asyncio.run(create())
        return base.rsplit("/", 1)[0] + "/" + name
    assert pg_server is not None
    return pg_server.create_database(name)  # type: ignore[attr-defined]
