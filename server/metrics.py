"""Every Prometheus metric LFG exports: the contract for dashboards, alerts and the server.

All metrics live on prometheus_client's default ``REGISTRY`` (next to its default process
and GC collectors) and are served at ``/metrics`` by every LFG process. Names follow the
Prometheus conventions: an ``lfg_`` prefix, base units (seconds, cents), ``_total`` on
counters, and labels whose values come from small fixed sets (route templates, enum
names, shard ids, market tickers) — never a user id, order id, raw path or free text.

Importing this module only registers the metrics; it starts no server and no thread.
Each process updates the metrics it owns (gateways the HTTP/WebSocket ones, shards the
engine ones). The deploy/ dashboards and alert rules may use no other metric; a test in
tests/deploy checks that.

Two usage rules the alerts rely on:
- a shard process creates its labelled series at start (for example
  ``SHARD_TAKEOVERS.labels(shard=sid)`` and ``SHARD_ACTIVE.labels(shard=sid).set(0)``), so
  that the first increment shows up in ``increase()`` and a standby is visible as ``0``;
- ``shard`` label values are the shard id as a decimal string (``"0"``, ``"1"``, ...).
"""

from prometheus_client import Counter, Gauge, Histogram

# Bucket layouts. Latency buckets are in seconds; alert thresholds sit on bucket bounds.
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_SIZE_BUCKETS = tuple(float(2**i) for i in range(13))  # 1, 2, 4, ..., 4096
_APPLY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
)
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_ACK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# --- HTTP (gateway) ---------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "lfg_http_requests_total",
    "HTTP requests answered, by method, route template (e.g. /api/v1/orders/{id}) and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "lfg_http_request_duration_seconds",
    "Time from receiving an HTTP request to sending the end of its response, by method and route template.",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
)

# --- WebSocket (gateway) ----------------------------------------------------------------

WS_CONNECTIONS = Gauge(
    "lfg_ws_connections",
    "WebSocket connections currently open on this gateway process (the autoscaling metric).",
)
WS_MESSAGES_RECEIVED = Counter(
    "lfg_ws_messages_received_total",
    "WebSocket messages received from clients, by protocol op (unknown ops count as 'invalid').",
    ["op"],
)
WS_MESSAGES_SENT = Counter(
    "lfg_ws_messages_sent_total",
    "WebSocket messages sent to clients, by message type.",
    ["type"],
)
WS_CONFLATIONS = Counter(
    "lfg_ws_conflations_total",
    "Times a slow client's queued book deltas were dropped and replaced by a fresh snapshot.",
)
WS_SLOW_CONSUMER_DISCONNECTS = Counter(
    "lfg_ws_slow_consumer_disconnects_total",
    "WebSocket clients disconnected because they stayed too slow even after conflation.",
)

# --- Business ---------------------------------------------------------------------------

ORDERS = Counter(
    "lfg_orders_total",
    "Orders submitted, by order type and result (accepted|rejected).",
    ["type", "result"],
)
ORDER_REJECTIONS = Counter(
    "lfg_order_rejections_total",
    "Orders rejected, by reject reason (the protocol's error code).",
    ["reason"],
)
TRADES = Counter("lfg_trades_total", "Trades executed (one per maker/taker fill).")
TRADED_CONTRACTS = Counter("lfg_traded_contracts_total", "Contracts traded, summed over trades.")
TRADED_NOTIONAL_CENTS = Counter(
    "lfg_traded_notional_cents_total",
    "Traded notional in cents (price in YES cents times quantity), summed over trades.",
)
USERS_REGISTERED = Counter("lfg_users_registered_total", "User accounts registered.")
LOGINS = Counter("lfg_logins_total", "Login attempts, by result (ok|failed).", ["result"])
OPEN_ORDERS = Gauge(
    "lfg_open_orders", "Orders resting on the books of this shard, by shard id.", ["shard"]
)
ESCROW_CENTS = Gauge(
    "lfg_escrow_cents",
    "Cents held in a market's escrow (100 per outstanding YES/NO pair), by market ticker.",
    ["market"],
)

# --- Shard loop (group commit) ----------------------------------------------------------

BATCH_SIZE = Histogram(
    "lfg_batch_size",
    "Commands per shard batch (one PostgreSQL transaction), by shard id.",
    ["shard"],
    buckets=_BATCH_SIZE_BUCKETS,
)
BATCH_APPLY = Histogram(
    "lfg_batch_apply_seconds",
    "Time the engine spent applying one batch in memory, by shard id.",
    ["shard"],
    buckets=_APPLY_BUCKETS,
)
COMMIT = Histogram(
    "lfg_commit_seconds",
    "Time to write and commit one batch to PostgreSQL, by shard id.",
    ["shard"],
    buckets=_COMMIT_BUCKETS,
)
ORDER_ACK = Histogram(
    "lfg_order_ack_seconds",
    "Time from a gateway receiving an order command to sending its durable reply.",
    buckets=_ACK_BUCKETS,
)
RECOVERY = Gauge(
    "lfg_recovery_seconds",
    "Duration of this shard's last recovery from PostgreSQL (load and book rebuild), by shard id.",
    ["shard"],
)

# --- Shard high availability ------------------------------------------------------------

SHARD_ACTIVE = Gauge(
    "lfg_shard_active",
    "1 while this process is the active shard (holds the advisory lock and takes commands), 0 while it is a standby.",
    ["shard"],
)
SHARD_TAKEOVERS = Counter(
    "lfg_shard_takeovers_total",
    "Times this process became the active shard after waiting as a standby, by shard id.",
    ["shard"],
)
SHARD_STREAM_PENDING = Gauge(
    "lfg_shard_stream_pending",
    "Commands waiting in the shard's Redis stream (distributed mode), by shard id.",
    ["shard"],
)

# --- Gateway fan-out --------------------------------------------------------------------

GATEWAY_PUBSUB_LAG = Histogram(
    "lfg_gateway_pubsub_lag_seconds",
    "Time from a shard publishing an event to this gateway receiving it from the bus.",
    buckets=_LAG_BUCKETS,
)
GATEWAY_RESYNCS = Counter(
    "lfg_gateway_resyncs_total",
    "Times this gateway saw a sequence gap in a market's feed and resynchronised from the shard.",
)

# --- Caches and rate limits -------------------------------------------------------------

CACHE_REQUESTS = Counter(
    "lfg_cache_requests_total",
    "Cache look-ups, by cache name and result (hit|miss).",
    ["cache", "result"],
)
RATE_LIMITED = Counter(
    "lfg_rate_limited_total",
    "Requests or messages refused by a rate limit, by limit class (e.g. rest_user, rest_ip, ws_user).",
    ["limit_class"],
)

# --- Readiness and database pool --------------------------------------------------------

READY = Gauge("lfg_ready", "1 while this process answers /ready with success, 0 while it does not.")
DB_POOL_SIZE = Gauge(
    "lfg_db_pool_size",
    "Maximum connections of this process's PostgreSQL pool (asyncpg Pool.get_max_size()).",
)
DB_POOL_IN_USE = Gauge(
    "lfg_db_pool_in_use", "Connections of this process's PostgreSQL pool currently checked out."
)
