import asyncpg

from server.db import migrate, migrations


async def test_migrations_apply_once_and_record_their_versions(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        first = await migrate(conn)
        again = await migrate(conn)
        assert first == [v for v, _, _ in migrations()]
        assert again == []
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == first
    finally:
        await conn.close()
