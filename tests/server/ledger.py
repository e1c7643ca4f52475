"""Money checks in SQL, straight from the tables the server wrote."""

import asyncpg


async def assert_money_conserved(dsn: str) -> None:
    """Σ available + Σ held + Σ escrow + Σ fees = Σ deposits − Σ withdrawals, and every
    user's ledger sums to their balance; no negative balances or positions."""
    conn = await asyncpg.connect(dsn)
    try:
        cash = await conn.fetchval("SELECT coalesce(sum(available + held), 0) FROM balances")
        escrow = await conn.fetchval("SELECT coalesce(sum(escrow + fees), 0) FROM markets")
        external = await conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM ledger WHERE kind IN ('deposit', 'withdrawal')"
        )
        assert cash + escrow == external, (cash, escrow, external)
        bad = await conn.fetch(
            "SELECT b.user_id, b.available + b.held AS bal, coalesce(l.s, 0) AS led FROM balances b "
            "LEFT JOIN (SELECT user_id, sum(amount) AS s FROM ledger GROUP BY user_id) l USING (user_id) "
            "WHERE b.available + b.held <> coalesce(l.s, 0) OR b.available < 0 OR b.held < 0"
        )
        assert not bad, [dict(r) for r in bad]
        pairs = await conn.fetch(
            "SELECT m.ticker, m.escrow, coalesce(sum(p.yes), 0) AS yes, coalesce(sum(p.no), 0) AS no "
            "FROM markets m LEFT JOIN positions p ON p.market = m.ticker GROUP BY m.ticker, m.escrow"
        )
        for r in pairs:
            assert r["escrow"] == 100 * r["yes"] == 100 * r["no"], dict(r)
        held = await conn.fetch(
            "SELECT b.user_id, b.held, coalesce(o.h, 0) AS h FROM balances b LEFT JOIN "
            "(SELECT user_id, sum(hold) AS h FROM orders WHERE status IN ('open', 'partially_filled') "
            "GROUP BY user_id) o USING (user_id) WHERE b.held <> coalesce(o.h, 0)"
        )
        assert not held, [dict(r) for r in held]
    finally:
        await conn.close()
