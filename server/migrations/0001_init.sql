-- LFG schema v1. Money is integer cents (bigint), prices integer cents 1..99, times are
-- integer milliseconds since the epoch (bigint) unless named *_at (timestamptz).

CREATE TABLE users (
    user_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NOT NULL,
    role        text NOT NULL DEFAULT 'trader' CHECK (role IN ('trader', 'admin')),
    created_ts  bigint NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE credentials (
    user_id        bigint PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    password_hash  text NOT NULL,
    updated_ts     bigint NOT NULL
);

-- Refresh tokens rotate: each use spends the token and issues the next one of the same
-- family; presenting a spent token revokes the whole family (reuse detection).
CREATE TABLE refresh_tokens (
    token_id    text PRIMARY KEY,
    family_id   text NOT NULL,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    token_hash  bytea NOT NULL,
    issued_ts   bigint NOT NULL,
    expires_ts  bigint NOT NULL,
    spent_ts    bigint,
    revoked_ts  bigint
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    key_id        text PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    name          text NOT NULL,
    secret_hash   bytea NOT NULL,
    created_ts    bigint NOT NULL,
    last_used_ts  bigint,
    revoked_ts    bigint
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Cash. `accounts` is changed only under a row lock taken in user_id order (the shard's
-- batch, for users whose commands may spend cash). Cash a batch adds to users it did not
-- lock (makers paid, holds released, payouts) goes to `cash_deltas`, which never decreases
-- available cash, and is folded into `accounts` the next time that row is locked.
CREATE TABLE accounts (
    user_id    bigint PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    available  bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
    held       bigint NOT NULL DEFAULT 0 CHECK (held >= 0)
);

CREATE TABLE cash_deltas (
    delta_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    d_available  bigint NOT NULL CHECK (d_available >= 0),
    d_held       bigint NOT NULL
);
CREATE INDEX cash_deltas_user ON cash_deltas (user_id);

CREATE VIEW balances AS
SELECT a.user_id,
       a.available + coalesce(d.d_available, 0) AS available,
       a.held + coalesce(d.d_held, 0) AS held
FROM accounts a
LEFT JOIN (
    SELECT user_id, sum(d_available)::bigint AS d_available, sum(d_held)::bigint AS d_held
    FROM cash_deltas GROUP BY user_id
) d USING (user_id);

CREATE TABLE markets (
    ticker         text PRIMARY KEY,
    title          text NOT NULL DEFAULT '',
    rules          text NOT NULL DEFAULT '',
    status         text NOT NULL CHECK (status IN ('open', 'halted', 'closed', 'resolved')),
    result         text CHECK (result IN ('yes', 'no', 'void')),
    close_ts       bigint,
    maker_fee_bps  integer NOT NULL DEFAULT 0,
    taker_fee_bps  integer NOT NULL DEFAULT 0,
    shard_id       integer NOT NULL,
    seq            bigint NOT NULL DEFAULT 0,
    escrow         bigint NOT NULL DEFAULT 0 CHECK (escrow >= 0),
    fees           bigint NOT NULL DEFAULT 0 CHECK (fees >= 0),
    last_price     integer NOT NULL DEFAULT 0,
    best_bid       integer,
    best_ask       integer,
    volume         bigint NOT NULL DEFAULT 0,
    trade_no       bigint NOT NULL DEFAULT 0,
    created_ts     bigint NOT NULL
);
CREATE INDEX markets_shard ON markets (shard_id);
CREATE INDEX markets_status ON markets (status);

-- Order ids are drawn in blocks of 1000 (one nextval per block).
CREATE SEQUENCE order_ids INCREMENT BY 1000 START WITH 1000;

CREATE TABLE orders (
    order_id         bigint PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users,
    market           text NOT NULL REFERENCES markets,
    side             text NOT NULL CHECK (side IN ('buy', 'sell')),
    outcome          text NOT NULL CHECK (outcome IN ('yes', 'no')),
    type             text NOT NULL,
    tif              text NOT NULL,
    price            integer NOT NULL CHECK (price BETWEEN 1 AND 99),
    qty              bigint NOT NULL CHECK (qty > 0),
    filled_qty       bigint NOT NULL CHECK (filled_qty >= 0),
    remaining_qty    bigint NOT NULL CHECK (remaining_qty >= 0),
    filled_cost      bigint NOT NULL,
    fees             bigint NOT NULL,
    status           text NOT NULL,
    client_order_id  text,
    created_ts       bigint NOT NULL,
    updated_ts       bigint NOT NULL,
    expires_at       bigint,
    stop_price       integer,
    post_only        boolean NOT NULL,
    stp              text NOT NULL,
    reason           text,
    triggered        boolean NOT NULL,
    hold             bigint NOT NULL CHECK (hold >= 0),
    priority         bigint NOT NULL
);
-- Recovery and "my open orders" read only open orders.
CREATE INDEX orders_open_by_market ON orders (market, priority)
    WHERE status IN ('open', 'partially_filled');
CREATE INDEX orders_user ON orders (user_id, order_id DESC);

CREATE TABLE trades (
    market          text NOT NULL REFERENCES markets,
    trade_no        bigint NOT NULL,
    price           integer NOT NULL,
    qty             bigint NOT NULL,
    taker_side      text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('mint', 'burn', 'transfer')),
    ts              bigint NOT NULL,
    seq             bigint NOT NULL,
    maker_order_id  bigint NOT NULL,
    taker_order_id  bigint NOT NULL,
    maker_user      bigint NOT NULL,
    taker_user      bigint NOT NULL,
    maker_fee       bigint NOT NULL,
    taker_fee       bigint NOT NULL,
    PRIMARY KEY (market, trade_no)
);
CREATE INDEX trades_market_ts ON trades (market, ts);

CREATE TABLE fills (
    fill_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL,
    market     text NOT NULL,
    trade_no   bigint NOT NULL,
    order_id   bigint NOT NULL,
    side       text NOT NULL,
    outcome    text NOT NULL,
    price      integer NOT NULL,
    qty        bigint NOT NULL,
    fee        bigint NOT NULL,
    liquidity  text NOT NULL CHECK (liquidity IN ('maker', 'taker')),
    ts         bigint NOT NULL
);
CREATE INDEX fills_user ON fills (user_id, fill_id DESC);

CREATE TABLE positions (
    market   text NOT NULL REFERENCES markets,
    user_id  bigint NOT NULL,
    yes      bigint NOT NULL CHECK (yes >= 0),
    no       bigint NOT NULL CHECK (no >= 0),
    PRIMARY KEY (market, user_id),
    CHECK (yes = 0 OR no = 0)
);
CREATE INDEX positions_user ON positions (user_id);

-- Every change of a user's total cash (available + held) with its cause. Holds move cash
-- between available and held and are not ledger entries. For every user:
-- sum(amount) = available + held (from `balances`).
CREATE TABLE ledger (
    entry_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   bigint NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'trade', 'netting', 'payout')),
    amount    bigint NOT NULL,
    market    text,
    ref       text,
    ts        bigint NOT NULL
);
CREATE INDEX ledger_user ON ledger (user_id, entry_id);
