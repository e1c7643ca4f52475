-- Tuning for production volume: indexes the hot queries lacked, autovacuum settings for
-- the high-churn tables, and views for reports. tests/server/test_explain.py runs EXPLAIN
-- on every hot query against a filled database and fails on a sequential scan of a large
-- table. Plain CREATE INDEX blocks writes to the table while it builds: on a large
-- production table build the index CONCURRENTLY by hand first (same name), then migrate.

-- A user's open orders, newest first: GET /orders?status=open, and cancel by
-- client_order_id (services._market_of_order). A bot with a million filled orders and ten
-- open ones reads ten index entries, not a million.
CREATE INDEX IF NOT EXISTS orders_user_open ON orders (user_id, order_id DESC)
    WHERE status IN ('open', 'partially_filled');

-- Shard recovery: the positions still held in the shard's markets. Positions of resolved
-- markets are paid out to zero and stay as rows: the partial index skips them.
CREATE INDEX IF NOT EXISTS positions_held_by_market ON positions (market)
    WHERE yes > 0 OR no > 0;

-- `balances` read for a few users (REST /account, WebSocket account updates) summed the
-- whole of cash_deltas first; per account, through cash_deltas_user, instead. Same
-- columns and types as 0001's view.
CREATE OR REPLACE VIEW balances AS
SELECT a.user_id,
       a.available + coalesce(d.d_available, 0) AS available,
       a.held + coalesce(d.d_held, 0) AS held
FROM accounts a
LEFT JOIN LATERAL (
    SELECT sum(c.d_available)::bigint AS d_available, sum(c.d_held)::bigint AS d_held
    FROM cash_deltas c
    WHERE c.user_id = a.user_id
) d ON true;

-- Autovacuum. The defaults (vacuum after 20 % of a table changed) suit tables that grow;
-- these tables are rewritten in place by nearly every batch.
-- orders: each fill, amend and cancel rewrites a row.
ALTER TABLE orders SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.01,
    fillfactor = 90
);
-- accounts and markets: few rows, each updated many times a second. Vacuum by count;
-- half-empty pages leave room for HOT updates (no indexed column changes).
ALTER TABLE accounts SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_analyze_scale_factor = 0.05,
    fillfactor = 50
);
ALTER TABLE markets SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.05,
    fillfactor = 50
);
-- cash_deltas: a queue (inserted by one batch, deleted when folded by a later one).
ALTER TABLE cash_deltas SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 5000,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 1000
);
-- Append-only history: vacuum after 5 % new rows so the visibility map stays current
-- (index-only scans) and freezing is spread out.
ALTER TABLE trades SET (autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE fills SET (autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE ledger SET (autovacuum_vacuum_insert_scale_factor = 0.05);

-- Reports.

-- Trading in the last 24 hours, per market (through trades_market_ts, market by market).
CREATE OR REPLACE VIEW market_volume_24h AS
SELECT m.ticker AS market, v.trades, v.contracts, v.notional_cents
FROM markets m
CROSS JOIN LATERAL (
    SELECT count(*)::bigint AS trades,
           coalesce(sum(t.qty), 0)::bigint AS contracts,
           coalesce(sum(t.price * t.qty), 0)::bigint AS notional_cents
    FROM trades t
    WHERE t.market = m.ticker
      AND t.ts >= (extract(epoch FROM now()) * 1000)::bigint - 86400000
) v;

-- Profit and loss per user and market, in cents:
--   cash_flow  = the user's ledger entries for the market: trades (paid or received, fees
--                included), netting (100 per merged YES/NO pair), payouts at resolution;
--   mark_value = the position at the last trade price: YES at last_price, NO at
--                100 - last_price (a resolved market's positions are paid out, so 0);
--   pnl        = cash_flow + mark_value.
-- A market's P&L is realised once the user holds none of its contracts (sold, netted or
-- paid out), and unrealised while they hold some.
CREATE OR REPLACE VIEW user_market_pnl AS
WITH flows AS (
    SELECT user_id, market, sum(amount)::bigint AS cash_flow
    FROM ledger
    WHERE market IS NOT NULL
    GROUP BY user_id, market
)
SELECT f.user_id,
       f.market,
       coalesce(p.yes, 0) AS yes,
       coalesce(p.no, 0) AS no,
       f.cash_flow,
       (coalesce(p.yes, 0) * m.last_price + coalesce(p.no, 0) * (100 - m.last_price))::bigint
           AS mark_value,
       (f.cash_flow
        + coalesce(p.yes, 0) * m.last_price
        + coalesce(p.no, 0) * (100 - m.last_price))::bigint AS pnl
FROM flows f
JOIN markets m ON m.ticker = f.market
LEFT JOIN positions p ON p.market = f.market AND p.user_id = f.user_id;

CREATE OR REPLACE VIEW user_pnl AS
SELECT user_id,
       sum(CASE WHEN yes = 0 AND no = 0 THEN pnl ELSE 0 END)::bigint AS realised_cents,
       sum(CASE WHEN yes = 0 AND no = 0 THEN 0 ELSE pnl END)::bigint AS unrealised_cents,
       sum(pnl)::bigint AS pnl_cents
FROM user_market_pnl
GROUP BY user_id;
