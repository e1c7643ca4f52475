// Wire shapes of /work/shared/PROTOCOL.md (v1). Prices are integer cents 1..99,
// quantities positive integers, money integer cents, times integer ms since the epoch.

export type Outcome = "yes" | "no";
export type Side = "buy" | "sell";
export type OrderType = "limit" | "market" | "stop" | "stop_limit";
export type Tif = "gtc" | "gtd" | "ioc" | "fok";
export type MarketStatus = "open" | "halted" | "closed" | "resolved";
export type MarketResult = "yes" | "no" | "void";
export type OrderStatus =
  | "open"
  | "partially_filled"
  | "filled"
  | "cancelled"
  | "expired"
  | "rejected";

export type ErrorCode =
  | "invalid_message"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "rate_limited"
  | "market_not_open"
  | "insufficient_funds"
  | "insufficient_position"
  | "post_only_would_cross"
  | "fok_unfillable"
  | "too_many_open_orders"
  | "timeout"
  | "unavailable"
  | "internal";

/** `[price, qty]` in YES cents, as on the wire. */
export type WireLevel = [number, number];

export interface Market {
  ticker: string;
  title: string;
  rules: string;
  status: MarketStatus;
  result: MarketResult | null;
  /** May be null on the server's market view. */
  close_ts: number | null;
  best_bid: number | null;
  best_ask: number | null;
  last: number | null;
  volume: number;
  volume_24h: number;
  open_interest: number;
  /** PROTOCOL.md / the brief name one rate; the server may send maker and taker rates. */
  fee_bps?: number;
  maker_fee_bps?: number;
  taker_fee_bps?: number;
}

/** The highest fee rate that can apply to an order in `m`, for an upper-bound estimate. */
export function maxFeeBps(m: Pick<Market, "fee_bps" | "maker_fee_bps" | "taker_fee_bps"> | undefined): number {
  if (!m) return 0;
  return Math.max(m.fee_bps ?? 0, m.maker_fee_bps ?? 0, m.taker_fee_bps ?? 0);
}

export interface Order {
  order_id: string;
  client_order_id: string | null;
  market: string;
  side: Side;
  outcome: Outcome;
  type: OrderType;
  tif: Tif;
  price: number | null;
  qty: number;
  filled_qty: number;
  remaining_qty: number;
  avg_price: number | null;
  status: OrderStatus;
  created_ts: number;
  updated_ts: number;
}

export interface Fill {
  trade_id: string;
  order_id: string;
  market: string;
  side: Side;
  outcome: Outcome;
  /** In cents of the order's own outcome. */
  price: number;
  qty: number;
  fee: number;
  liquidity: "maker" | "taker";
  ts: number;
}

export interface Trade {
  trade_id: string;
  /** YES cents. */
  price: number;
  qty: number;
  /** In YES terms. */
  taker_side: Side;
  ts: number;
}

export interface Candle {
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface Position {
  market: string;
  yes: number;
  no: number;
}

export interface Account {
  available: number;
  held: number;
  positions: Position[];
}

export interface Me {
  user_id: string;
  email: string;
  role: "trader" | "admin";
  created_ts: number;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export interface ApiKey {
  key_id: string;
  name: string;
  created_ts: number;
  last_used_ts: number | null;
}

export interface NewApiKey {
  key_id: string;
  name: string;
  secret: string;
  created_ts: number;
}

export interface AdminUser {
  user_id: string;
  email: string;
  role: "trader" | "admin";
}

// ---- WebSocket server messages -------------------------------------------------------

export interface BookSnapshotMsg {
  type: "book_snapshot";
  market: string;
  seq: number;
  bids: WireLevel[];
  asks: WireLevel[];
}
export interface BookDeltaMsg {
  type: "book_delta";
  market: string;
  seq: number;
  side: "bid" | "ask";
  price: number;
  qty: number;
}
export interface TradeMsg extends Trade {
  type: "trade";
  market: string;
  seq: number;
}
export interface TickerMsg {
  type: "ticker";
  market: string;
  seq: number;
  last: number | null;
  best_bid: number | null;
  best_ask: number | null;
  volume: number;
  open_interest: number;
}
export interface MarketMsg {
  type: "market";
  market: string;
  seq: number;
  status: MarketStatus;
  result?: MarketResult | null;
}
export interface HeartbeatMsg {
  type: "heartbeat";
  ts: number;
}
export interface OrderMsg {
  type: "order";
  order: Order;
}
export interface FillMsg {
  type: "fill";
  fill: Fill;
}
export interface AccountMsg extends Account {
  type: "account";
}
export interface ErrorMsg {
  type: "error";
  code: ErrorCode | string;
  message: string;
  id: number | null;
}

export type PublicMsg = BookSnapshotMsg | BookDeltaMsg | TradeMsg | TickerMsg | MarketMsg;
export type PrivateMsg = OrderMsg | FillMsg | AccountMsg;

/** Any message from the server; replies (`authed`, `placed`, ...) carry the request `id`. */
export interface ServerMsg {
  type: string;
  id?: number | null;
  [key: string]: unknown;
}
