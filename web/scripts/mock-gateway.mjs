// A throwaway stand-in for the LFG gateway, for working on the UI without the Python
// server: `npm run build && npm run mock` then open http://127.0.0.1:8077/.
//
// It speaks PROTOCOL.md v1 closely enough to click through every screen (register, log
// in, markets, book, trades, orders, fills, account, API keys, admin) and serves dist/
// with the production Content-Security-Policy. It is NOT the exchange: the matching and
// the money are simplified, nothing is persisted, and the real server is the reference.
// A bot trades on the first market so the book and tape move.
//
// Env: PORT (8077), HOST (127.0.0.1), MOCK_BOT=0 to stop the bot,
//      MOCK_TOKEN_TTL seconds for access tokens (900), MOCK_GAP_EVERY=N to drop a
//      sequence number every N book deltas (exercises the client's resync).

import { randomBytes, randomUUID } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";

const PORT = Number(process.env.PORT ?? 8077);
const HOST = process.env.HOST ?? "127.0.0.1";
const TTL = Number(process.env.MOCK_TOKEN_TTL ?? 900);
const GAP_EVERY = Number(process.env.MOCK_GAP_EVERY ?? 0);
const DIST = fileURLToPath(new URL("../dist/", import.meta.url));
const CSP =
  "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'";

// ---- state --------------------------------------------------------------------------

const users = new Map(); // user_id → user
const byEmail = new Map();
const access = new Map(); // token → {user_id, exp}
const refresh = new Map(); // token → user_id
const apiKeys = new Map(); // secret → {key_id, name, user_id, created_ts, last_used_ts}
const markets = new Map(); // ticker → market
const orders = new Map(); // order_id → order (+ internal fields)
const fills = []; // {user_id, ...Fill}
const sockets = new Set();

const now = () => Date.now();
const id = (p) => `${p}_${randomUUID().slice(0, 8)}`;

function newUser(email, password, role = "trader") {
  const u = { user_id: id("u"), email, password, role, created_ts: now(), available: 100_000, held: 0, positions: new Map() };
  users.set(u.user_id, u);
  byEmail.set(email.toLowerCase(), u);
  return u;
}

function newMarket(ticker, title, closeInDays, fee_bps = 0) {
  const m = {
    ticker,
    title,
    rules: `Resolves YES if: ${title.replace(/\?$/, "")}. Otherwise NO. Source: the LFG demo desk.`,
    status: "open",
    result: null,
    close_ts: now() + closeInDays * 86_400_000,
    volume: 0,
    volume_24h: 0,
    open_interest: 0,
    fee_bps,
    seq: 0,
    last: null,
    bids: [], // resting orders, YES terms, best first
    asks: [],
    trades: [],
  };
  markets.set(ticker, m);
  return m;
}

const bot = newUser("bot@lfg.local", "Bot-password-1!");
bot.available = 100_000_000;
newUser("admin@lfg.local", "Admin-password-1!", "admin");
newMarket("DEMO-RAIN", "Will it rain in Lisbon tomorrow?", 2);
newMarket("BTC-100K", "Will BTC close above $100k this month?", 20, 50);
newMarket("ELECTION-X", "Will candidate X win the election?", 90);

// ---- helpers --------------------------------------------------------------------------

function publicMarket(m) {
  return {
    ticker: m.ticker,
    title: m.title,
    rules: m.rules,
    status: m.status,
    result: m.result,
    close_ts: m.close_ts,
    best_bid: m.bids[0]?.bookPrice ?? null,
    best_ask: m.asks[0]?.bookPrice ?? null,
    last: m.last,
    volume: m.volume,
    volume_24h: m.volume_24h,
    open_interest: m.open_interest,
    fee_bps: m.fee_bps,
  };
}

function levels(list) {
  const out = [];
  for (const o of list) {
    const last = out.at(-1);
    if (last && last[0] === o.bookPrice) last[1] += o.remaining_qty;
    else out.push([o.bookPrice, o.remaining_qty]);
  }
  return out;
}

function levelQty(list, price) {
  return list.filter((o) => o.bookPrice === price).reduce((s, o) => s + o.remaining_qty, 0);
}

function publicOrder(o) {
  const { user_id, bookSide, bookPrice, holdPer, ...rest } = o;
  return rest;
}

function accountOf(u) {
  return {
    available: u.available,
    held: u.held,
    positions: [...u.positions].map(([market, p]) => ({ market, yes: p.yes, no: p.no })).filter((p) => p.yes || p.no),
  };
}

function position(u, market) {
  let p = u.positions.get(market);
  if (!p) u.positions.set(market, (p = { yes: 0, no: 0 }));
  return p;
}

function send(ws, msg) {
  if (ws.readyState === 1) ws.send(JSON.stringify(msg));
}

function publish(channel, msg) {
  for (const ws of sockets) if (ws.channels.has(channel)) send(ws, msg);
}

function publishMarket(m, msg) {
  const seen = new Set();
  for (const ch of [`book:${m.ticker}`, `trades:${m.ticker}`, `ticker:${m.ticker}`, "markets"]) {
    for (const ws of sockets) {
      if (ws.channels.has(ch) && !seen.has(ws)) {
        seen.add(ws);
        send(ws, msg);
      }
    }
  }
}

function toUser(userId, msg) {
  const channel = msg.type === "order" ? "orders" : msg.type === "fill" ? "fills" : "account";
  for (const ws of sockets) if (ws.userId === userId && ws.channels.has(channel)) send(ws, msg);
}

let deltas = 0;
function bookDelta(m, side, price) {
  m.seq += 1;
  // MOCK_GAP_EVERY=N: lose a sequence number every N book deltas, to exercise resync.
  deltas += 1;
  if (GAP_EVERY > 0 && deltas % GAP_EVERY === 0) m.seq += 1;
  publish(`book:${m.ticker}`, { type: "book_delta", market: m.ticker, seq: m.seq, side, price, qty: levelQty(side === "bid" ? m.bids : m.asks, price) });
}

function tick(m) {
  const t = publicMarket(m);
  publish(`ticker:${m.ticker}`, { type: "ticker", market: m.ticker, seq: m.seq, last: t.last, best_bid: t.best_bid, best_ask: t.best_ask, volume: t.volume, open_interest: t.open_interest });
}

class Reject extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// ---- matching (simplified) ------------------------------------------------------------

function settleBuy(u, o, price, qty) {
  u.held -= o.holdPer * qty;
  u.available += (o.holdPer - price) * qty;
  const p = position(u, o.market);
  p[o.outcome] += qty;
  const pairs = Math.min(p.yes, p.no);
  if (pairs > 0) {
    p.yes -= pairs;
    p.no -= pairs;
    u.available += 100 * pairs;
  }
}

function settleSell(u, o, price, qty) {
  position(u, o.market)[o.outcome] -= qty;
  u.available += price * qty;
}

function execute(m, taker, maker, qty) {
  const bookPrice = maker.bookPrice;
  const ts = now();
  const trade_id = id("t");
  for (const o of [maker, taker]) {
    const u = users.get(o.user_id);
    const own = o.outcome === "yes" ? bookPrice : 100 - bookPrice;
    const fee = o === taker && m.fee_bps ? Math.ceil((own * qty * m.fee_bps) / 10_000) : 0;
    if (o.side === "buy") settleBuy(u, o, own, qty);
    else settleSell(u, o, own, qty);
    u.available -= fee;
    o.filled_qty += qty;
    o.remaining_qty -= qty;
    o.avg_price = Math.round(((o.avg_price ?? 0) * (o.filled_qty - qty) + own * qty) / o.filled_qty);
    o.status = o.remaining_qty === 0 ? "filled" : "partially_filled";
    o.updated_ts = ts;
    const fill = { trade_id, order_id: o.order_id, market: m.ticker, side: o.side, outcome: o.outcome, price: own, qty, fee, liquidity: o === maker ? "maker" : "taker", ts };
    fills.push({ user_id: o.user_id, ...fill });
    toUser(o.user_id, { type: "fill", fill });
    toUser(o.user_id, { type: "order", order: publicOrder(o) });
    toUser(o.user_id, { type: "account", ...accountOf(u) });
  }
  m.last = bookPrice;
  m.volume += qty;
  m.volume_24h += qty;
  m.open_interest += qty;
  const takerYesSide = taker.bookSide === "bid" ? "buy" : "sell";
  const trade = { trade_id, price: bookPrice, qty, taker_side: takerYesSide, ts };
  m.trades.push(trade);
  if (m.trades.length > 5000) m.trades.splice(0, 1000);
  m.seq += 1;
  publish(`trades:${m.ticker}`, { type: "trade", market: m.ticker, seq: m.seq, ...trade });
}

function crosses(o, restingBest) {
  return o.bookSide === "bid" ? restingBest.bookPrice <= o.bookPrice : restingBest.bookPrice >= o.bookPrice;
}

function fillable(m, o) {
  const opp = o.bookSide === "bid" ? m.asks : m.bids;
  let n = 0;
  for (const r of opp) if (crosses(o, r) && r.user_id !== o.user_id) n += r.remaining_qty;
  return n;
}

function place(u, req) {
  const m = markets.get(req.market);
  if (!m) throw new Reject("not_found", `unknown market ${req.market}`);
  if (m.status !== "open") throw new Reject("market_not_open", `market is ${m.status}`);
  const { side, outcome, type = "limit", tif = "gtc" } = req;
  const qty = req.qty;
  const price = req.price ?? (side === "buy" ? 99 : 1);
  if (!["buy", "sell"].includes(side) || !["yes", "no"].includes(outcome)) throw new Reject("invalid_message", "side/outcome");
  if (!Number.isInteger(qty) || qty < 1) throw new Reject("invalid_message", "qty must be a positive integer");
  if (!Number.isInteger(price) || price < 1 || price > 99) throw new Reject("invalid_message", "price must be 1..99");
  if (tif === "gtd" && !(req.expires_at > now())) throw new Reject("invalid_message", "expires_at must be in the future");
  if ([...orders.values()].filter((o) => o.user_id === u.user_id && (o.status === "open" || o.status === "partially_filled")).length >= 200)
    throw new Reject("too_many_open_orders", "200 open orders at most");
  if (side === "buy" && price * qty > u.available) throw new Reject("insufficient_funds", `hold ${price * qty} > available ${u.available}`);
  if (side === "sell") {
    const reserved = [...orders.values()]
      .filter((o) => o.user_id === u.user_id && o.market === m.ticker && o.side === "sell" && o.outcome === outcome && o.remaining_qty > 0 && o.status !== "cancelled")
      .reduce((s, o) => s + o.remaining_qty, 0);
    if (position(u, m.ticker)[outcome] - reserved < qty) throw new Reject("insufficient_position", `not enough ${outcome.toUpperCase()} contracts`);
  }
  const bookSide = (side === "buy") === (outcome === "yes") ? "bid" : "ask";
  const ts = now();
  const o = {
    order_id: id("o"),
    client_order_id: req.client_order_id ?? null,
    market: m.ticker,
    side,
    outcome,
    type,
    tif: type === "market" ? (tif === "fok" ? "fok" : "ioc") : tif,
    price,
    qty,
    filled_qty: 0,
    remaining_qty: qty,
    avg_price: null,
    status: "open",
    created_ts: ts,
    updated_ts: ts,
    user_id: u.user_id,
    bookSide,
    bookPrice: outcome === "yes" ? price : 100 - price,
    holdPer: side === "buy" ? price : 0,
  };
  const opp = bookSide === "bid" ? m.asks : m.bids;
  if (req.post_only && opp[0] && crosses(o, opp[0])) throw new Reject("post_only_would_cross", "post-only order would cross");
  if (o.tif === "fok" && fillable(m, o) < qty) throw new Reject("fok_unfillable", "not enough liquidity");
  if (side === "buy") {
    u.available -= price * qty;
    u.held += price * qty;
  }
  orders.set(o.order_id, o);
  while (o.remaining_qty > 0 && opp[0] && crosses(o, opp[0])) {
    const maker = opp[0];
    if (maker.user_id === o.user_id) {
      // self-trade prevention: cancel newest
      break;
    }
    const n = Math.min(o.remaining_qty, maker.remaining_qty);
    execute(m, o, maker, n);
    if (maker.remaining_qty === 0) opp.shift();
    bookDelta(m, maker.bookSide, maker.bookPrice);
  }
  if (o.remaining_qty > 0) {
    if (o.tif === "ioc" || o.tif === "fok" || (opp[0] && crosses(o, opp[0]))) {
      finish(o, "cancelled");
    } else {
      const list = bookSide === "bid" ? m.bids : m.asks;
      list.push(o);
      list.sort((a, b) => (bookSide === "bid" ? b.bookPrice - a.bookPrice : a.bookPrice - b.bookPrice) || a.created_ts - b.created_ts);
      bookDelta(m, bookSide, o.bookPrice);
    }
  }
  tick(m);
  toUser(u.user_id, { type: "order", order: publicOrder(o) });
  toUser(u.user_id, { type: "account", ...accountOf(u) });
  return o;
}

function finish(o, status) {
  const u = users.get(o.user_id);
  if (o.side === "buy") {
    u.held -= o.holdPer * o.remaining_qty;
    u.available += o.holdPer * o.remaining_qty;
  }
  o.status = o.filled_qty > 0 && status === "cancelled" ? "cancelled" : status;
  o.remaining_qty = 0;
  o.updated_ts = now();
}

function cancel(o) {
  const m = markets.get(o.market);
  const list = o.bookSide === "bid" ? m.bids : m.asks;
  const i = list.indexOf(o);
  if (i >= 0) list.splice(i, 1);
  finish(o, "cancelled");
  if (i >= 0) bookDelta(m, o.bookSide, o.bookPrice);
  tick(m);
  toUser(o.user_id, { type: "order", order: publicOrder(o) });
  toUser(o.user_id, { type: "account", ...accountOf(users.get(o.user_id)) });
}

function amend(o, qty) {
  if (!Number.isInteger(qty) || qty < 1 || qty >= o.remaining_qty) throw new Reject("invalid_message", "qty must be below the remaining quantity");
  const u = users.get(o.user_id);
  const cut = o.remaining_qty - qty;
  if (o.side === "buy") {
    u.held -= o.holdPer * cut;
    u.available += o.holdPer * cut;
  }
  o.remaining_qty = qty;
  o.qty -= cut;
  o.updated_ts = now();
  bookDelta(markets.get(o.market), o.bookSide, o.bookPrice);
  toUser(o.user_id, { type: "order", order: publicOrder(o) });
  toUser(o.user_id, { type: "account", ...accountOf(u) });
}

function setStatus(m, status, result = null) {
  if (status === "closed" || status === "resolved") {
    for (const o of [...m.bids, ...m.asks]) cancel(o);
  }
  if (status === "resolved") {
    for (const u of users.values()) {
      const p = u.positions.get(m.ticker);
      if (!p) continue;
      const pay = result === "void" ? 50 * (p.yes + p.no) : result === "yes" ? 100 * p.yes : 100 * p.no;
      u.available += pay;
      p.yes = p.no = 0;
      toUser(u.user_id, { type: "account", ...accountOf(u) });
    }
  }
  m.status = status;
  m.result = result;
  m.seq += 1;
  publishMarket(m, { type: "market", market: m.ticker, seq: m.seq, status, ...(result ? { result } : {}) });
}

// ---- auth -----------------------------------------------------------------------------

function issue(u) {
  const a = randomBytes(18).toString("base64url");
  const r = randomBytes(18).toString("base64url");
  access.set(a, { user_id: u.user_id, exp: now() + TTL * 1000 });
  refresh.set(r, u.user_id);
  return { access_token: a, refresh_token: r, expires_in: TTL };
}

function authUser(token) {
  if (!token) return null;
  const a = access.get(token);
  if (a && a.exp > now()) return users.get(a.user_id) ?? null;
  const k = apiKeys.get(token);
  if (k) {
    k.last_used_ts = now();
    return users.get(k.user_id) ?? null;
  }
  return null;
}

const POLICY = [
  [(p) => p.length >= 10, "password must be at least 10 characters"],
  [(p) => /[A-Z]/.test(p), "password must contain an uppercase letter"],
  [(p) => /[a-z]/.test(p), "password must contain a lowercase letter"],
  [(p) => /\d/.test(p), "password must contain a digit"],
  [(p) => /[^A-Za-z0-9]/.test(p), "password must contain a special character"],
];

// ---- REST -----------------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
const STATUS = { invalid_message: 400, unauthorized: 401, forbidden: 403, not_found: 404, rate_limited: 429 };

async function body(req) {
  let raw = "";
  for await (const chunk of req) raw += chunk;
  if (!raw) return {};
  try {
    return JSON.parse(raw);
  } catch {
    throw new HttpError(400, "invalid_message", "body is not JSON");
  }
}

async function api(req, res, url) {
  const path = url.pathname.slice("/api/v1".length);
  const method = req.method;
  const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
  const me = () => {
    const u = authUser(token);
    if (!u) throw new HttpError(401, "unauthorized", "missing or expired token");
    return u;
  };
  const admin = () => {
    const u = me();
    if (u.role !== "admin") throw new HttpError(403, "forbidden", "admin only");
    return u;
  };
  const market = (t) => {
    const m = markets.get(decodeURIComponent(t));
    if (!m) throw new HttpError(404, "not_found", `unknown market ${t}`);
    return m;
  };
  let seg;
  if (method === "POST" && path === "/auth/register") {
    const { email, password } = await body(req);
    if (typeof email !== "string" || !email.includes("@")) throw new HttpError(400, "invalid_message", "email is not valid");
    for (const [ok, rule] of POLICY) if (!ok(String(password ?? ""))) throw new HttpError(400, "invalid_message", rule);
    if (byEmail.has(email.toLowerCase())) throw new HttpError(409, "conflict", "email already registered");
    return [201, { user_id: newUser(email, password, email.startsWith("admin") ? "admin" : "trader").user_id }];
  }
  if (method === "POST" && path === "/auth/login") {
    const { email, password } = await body(req);
    const u = byEmail.get(String(email ?? "").toLowerCase());
    if (!u || u.password !== password) throw new HttpError(401, "unauthorized", "bad credentials");
    return [200, issue(u)];
  }
  if (method === "POST" && path === "/auth/refresh") {
    const { refresh_token } = await body(req);
    const uid = refresh.get(refresh_token);
    if (!uid) throw new HttpError(401, "unauthorized", "refresh token spent or unknown");
    refresh.delete(refresh_token);
    return [200, issue(users.get(uid))];
  }
  if (method === "POST" && path === "/auth/logout") {
    const u = me();
    for (const [r, uid] of refresh) if (uid === u.user_id) refresh.delete(r);
    access.delete(token);
    return [204];
  }
  if (method === "GET" && path === "/me") {
    const u = me();
    return [200, { user_id: u.user_id, email: u.email, role: u.role, created_ts: u.created_ts }];
  }
  if (path === "/me/api-keys") {
    const u = me();
    if (method === "POST") {
      const { name } = await body(req);
      const secret = `lfg_${randomBytes(24).toString("base64url")}`;
      const k = { key_id: id("k"), name: String(name ?? ""), user_id: u.user_id, created_ts: now(), last_used_ts: null };
      apiKeys.set(secret, k);
      return [201, { key_id: k.key_id, name: k.name, secret, created_ts: k.created_ts }];
    }
    const list = [...apiKeys.values()].filter((k) => k.user_id === u.user_id).map(({ user_id, ...k }) => k);
    return [200, { api_keys: list }];
  }
  if (method === "DELETE" && (seg = path.match(/^\/me\/api-keys\/([^/]+)$/))) {
    const u = me();
    for (const [s, k] of apiKeys) if (k.key_id === seg[1] && k.user_id === u.user_id) {
      apiKeys.delete(s);
      return [204];
    }
    throw new HttpError(404, "not_found", "no such key");
  }
  if (method === "GET" && path === "/markets") {
    const status = url.searchParams.get("status");
    return [200, { markets: [...markets.values()].filter((m) => !status || m.status === status).map(publicMarket), next_cursor: null }];
  }
  if (method === "GET" && (seg = path.match(/^\/markets\/([^/]+)$/))) return [200, publicMarket(market(seg[1]))];
  if (method === "GET" && (seg = path.match(/^\/markets\/([^/]+)\/book$/))) {
    const m = market(seg[1]);
    return [200, { market: m.ticker, seq: m.seq, bids: levels(m.bids), asks: levels(m.asks) }];
  }
  if (method === "GET" && (seg = path.match(/^\/markets\/([^/]+)\/trades$/))) {
    const m = market(seg[1]);
    const limit = Math.min(500, Number(url.searchParams.get("limit") ?? 100));
    return [200, { trades: m.trades.slice(-limit).reverse(), next_cursor: null }];
  }
  if (method === "GET" && (seg = path.match(/^\/markets\/([^/]+)\/candles$/))) {
    const m = market(seg[1]);
    const iv = { "1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000 }[url.searchParams.get("interval") ?? "1h"];
    if (!iv) throw new HttpError(400, "invalid_message", "interval must be 1m, 5m, 1h or 1d");
    const out = new Map();
    for (const t of m.trades) {
      const ts = Math.floor(t.ts / iv) * iv;
      const c = out.get(ts);
      if (!c) out.set(ts, { ts, open: t.price, high: t.price, low: t.price, close: t.price, volume: t.qty });
      else Object.assign(c, { high: Math.max(c.high, t.price), low: Math.min(c.low, t.price), close: t.price, volume: c.volume + t.qty });
    }
    return [200, { candles: [...out.values()] }];
  }
  if (method === "GET" && path === "/orders") {
    const u = me();
    const status = url.searchParams.get("status");
    const mk = url.searchParams.get("market");
    const list = [...orders.values()].filter((o) => o.user_id === u.user_id && (!status || o.status === status) && (!mk || o.market === mk));
    return [200, { orders: list.map(publicOrder), next_cursor: null }];
  }
  if (method === "GET" && path === "/fills") {
    const u = me();
    const mk = url.searchParams.get("market");
    const list = fills.filter((f) => f.user_id === u.user_id && (!mk || f.market === mk)).map(({ user_id, ...f }) => f);
    return [200, { fills: list.reverse().slice(0, 500), next_cursor: null }];
  }
  if (method === "GET" && path === "/account") return [200, accountOf(me())];
  if (method === "POST" && path === "/admin/markets") {
    admin();
    const b = await body(req);
    if (!b.ticker || !b.title || !b.rules || !Number.isInteger(b.close_ts)) throw new HttpError(400, "invalid_message", "ticker, title, rules, close_ts required");
    if (markets.has(b.ticker)) throw new HttpError(409, "conflict", "ticker exists");
    const m = newMarket(b.ticker, b.title, 1, b.fee_bps ?? 0);
    Object.assign(m, { rules: b.rules, close_ts: b.close_ts });
    m.seq += 1;
    publish("markets", { type: "market", market: m.ticker, seq: m.seq, status: "open" });
    return [201, publicMarket(m)];
  }
  if (method === "POST" && (seg = path.match(/^\/admin\/markets\/([^/]+)\/(halt|open|close|resolve)$/))) {
    admin();
    const m = market(seg[1]);
    const action = seg[2];
    const ok = { halt: ["open"], open: ["halted"], close: ["open", "halted"], resolve: ["closed", "open", "halted"] }[action];
    if (!ok.includes(m.status)) throw new HttpError(409, "conflict", `cannot ${action} a ${m.status} market`);
    if (action === "resolve") {
      const { result } = await body(req);
      if (!["yes", "no", "void"].includes(result)) throw new HttpError(400, "invalid_message", "result must be yes, no or void");
      setStatus(m, "resolved", result);
    } else setStatus(m, { halt: "halted", open: "open", close: "closed" }[action]);
    return [200, publicMarket(m)];
  }
  if (method === "GET" && path === "/admin/users") {
    admin();
    const q = (url.searchParams.get("email") ?? "").toLowerCase();
    const list = [...users.values()].filter((u) => u.email.toLowerCase() === q).map((u) => ({ user_id: u.user_id, email: u.email, role: u.role }));
    return [200, { users: list }];
  }
  if (method === "POST" && (seg = path.match(/^\/admin\/users\/([^/]+)\/credit$/))) {
    admin();
    const u = users.get(seg[1]);
    if (!u) throw new HttpError(404, "not_found", "no such user");
    const { amount } = await body(req);
    if (!Number.isInteger(amount) || amount <= 0) throw new HttpError(400, "invalid_message", "amount must be a positive integer (cents)");
    u.available += amount;
    toUser(u.user_id, { type: "account", ...accountOf(u) });
    return [200, accountOf(u)];
  }
  throw new HttpError(404, "not_found", `no route ${method} ${path}`);
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json" };

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
  res.setHeader("Content-Security-Policy", CSP);
  res.setHeader("X-Content-Type-Options", "nosniff");
  if (url.pathname.startsWith("/api/v1/")) {
    try {
      const [status, payload] = await api(req, res, url);
      res.writeHead(status, payload === undefined ? {} : { "Content-Type": "application/json" });
      res.end(payload === undefined ? undefined : JSON.stringify(payload));
    } catch (err) {
      const status = err.status ?? STATUS[err.code] ?? (err instanceof Reject ? 409 : 500);
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ code: err.code ?? "internal", message: err.message }));
    }
    return;
  }
  const rel = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, "");
  let file = join(DIST, rel === "/" ? "index.html" : rel);
  if (!file.startsWith(DIST)) file = join(DIST, "index.html");
  try {
    if (!(await stat(file)).isFile()) file = join(DIST, "index.html");
  } catch {
    file = join(DIST, "index.html");
  }
  try {
    const data = await readFile(file);
    res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(data);
  } catch {
    res.writeHead(404);
    res.end("dist/ not built: run npm run build");
  }
});

// ---- WebSocket ------------------------------------------------------------------------

const wss = new WebSocketServer({ server, path: "/ws/v1", maxPayload: 64 * 1024 });
const PRIVATE = new Set(["orders", "fills", "account"]);

wss.on("connection", (ws) => {
  ws.channels = new Set();
  ws.userId = null;
  sockets.add(ws);
  ws.on("close", () => sockets.delete(ws));
  ws.on("message", (raw) => {
    let msg;
    try {
      msg = JSON.parse(String(raw));
    } catch {
      return send(ws, { type: "error", code: "invalid_message", message: "not JSON", id: null });
    }
    const rid = Number.isInteger(msg.id) ? msg.id : null;
    const fail = (code, message) => send(ws, { type: "error", code, message, id: rid });
    try {
      switch (msg.op) {
        case "auth": {
          if (ws.userId) return fail("invalid_message", "already authenticated");
          const u = authUser(msg.token);
          if (!u) {
            fail("unauthorized", "bad token");
            return ws.close(1008, "auth failed");
          }
          ws.userId = u.user_id;
          return send(ws, { type: "authed", id: rid, user_id: u.user_id });
        }
        case "subscribe": {
          const chans = Array.isArray(msg.channels) ? msg.channels : [];
          for (const ch of chans) {
            if (PRIVATE.has(ch) && !ws.userId) return fail("unauthorized", `${ch} needs auth`);
            const [kind, t] = ch.split(":");
            if (t !== undefined && !markets.has(t)) return fail("not_found", `unknown market ${t}`);
            if (!t && !PRIVATE.has(kind) && kind !== "markets") return fail("invalid_message", `unknown channel ${ch}`);
          }
          for (const ch of chans) ws.channels.add(ch);
          send(ws, { type: "subscribed", id: rid, channels: chans });
          for (const ch of chans) {
            const [kind, t] = ch.split(":");
            if (kind === "book") {
              const m = markets.get(t);
              send(ws, { type: "book_snapshot", market: t, seq: m.seq, bids: levels(m.bids), asks: levels(m.asks) });
            }
          }
          return;
        }
        case "unsubscribe":
          for (const ch of msg.channels ?? []) ws.channels.delete(ch);
          return send(ws, { type: "unsubscribed", id: rid, channels: msg.channels ?? [] });
        case "ping":
          return send(ws, { type: "pong", id: rid, ts: now() });
      }
      const u = ws.userId ? users.get(ws.userId) : null;
      if (!u) return fail("unauthorized", "authenticate first");
      switch (msg.op) {
        case "place": {
          const o = place(u, msg);
          return send(ws, { type: "placed", id: rid, order: publicOrder(o) });
        }
        case "cancel": {
          const o = orders.get(msg.order_id);
          if (!o) return fail("not_found", "no such order");
          if (o.user_id !== u.user_id) return fail("forbidden", "not your order");
          if (o.remaining_qty === 0) return fail("conflict", `order is ${o.status}`);
          cancel(o);
          return send(ws, { type: "cancelled", id: rid, order: publicOrder(o) });
        }
        case "cancel_all": {
          const list = [...orders.values()].filter((o) => o.user_id === u.user_id && o.remaining_qty > 0 && (!msg.market || o.market === msg.market));
          for (const o of list) cancel(o);
          return send(ws, { type: "cancelled_all", id: rid, count: list.length });
        }
        case "amend": {
          const o = orders.get(msg.order_id);
          if (!o || o.user_id !== u.user_id) return fail("not_found", "no such order");
          amend(o, msg.qty);
          return send(ws, { type: "amended", id: rid, order: publicOrder(o) });
        }
        default:
          return fail("invalid_message", `unknown op ${msg.op}`);
      }
    } catch (err) {
      if (err instanceof Reject) return fail(err.code, err.message);
      console.error(err);
      return fail("internal", String(err));
    }
  });
});

setInterval(() => {
  for (const ws of sockets) if (ws.channels.size) send(ws, { type: "heartbeat", ts: now() });
}, 5_000);

// ---- the bot ----------------------------------------------------------------------------

if (process.env.MOCK_BOT !== "0") {
  let fair = 55;
  setInterval(() => {
    const m = [...markets.values()].find((x) => x.status === "open");
    if (!m) return;
    fair = Math.max(5, Math.min(95, fair + Math.round((Math.random() - 0.5) * 3)));
    const mine = [...m.bids, ...m.asks].filter((o) => o.user_id === bot.user_id);
    if (mine.length > 24) cancel(mine[Math.floor(Math.random() * mine.length)]);
    const r = Math.random();
    try {
      if (r < 0.75) {
        // Quote: buy YES below fair or buy NO above it.
        const off = 1 + Math.floor(Math.random() * 6);
        if (Math.random() < 0.5) place(bot, { market: m.ticker, side: "buy", outcome: "yes", price: fair - off, qty: 1 + Math.floor(Math.random() * 40) });
        else place(bot, { market: m.ticker, side: "buy", outcome: "no", price: 100 - (fair + off), qty: 1 + Math.floor(Math.random() * 40) });
      } else {
        // Take: cross the spread through a second identity so trades print.
        const taker = byEmail.get("taker@lfg.local") ?? newUser("taker@lfg.local", "Taker-password-1!");
        taker.available = 10_000_000;
        const yes = Math.random() < 0.5;
        place(taker, { market: m.ticker, side: "buy", outcome: yes ? "yes" : "no", type: "market", tif: "ioc", price: 99, qty: 1 + Math.floor(Math.random() * 8) });
      }
    } catch {
      // a rejected bot order is fine
    }
  }, 700);
}

server.listen(PORT, HOST, () => {
  console.log(`mock gateway on http://${HOST}:${PORT}/  (admin@lfg.local / Admin-password-1!)`);
});
