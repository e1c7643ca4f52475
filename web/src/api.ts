// REST client for /api/v1 (PROTOCOL.md "REST"). Bearer access token from the session,
// refreshed on demand; a 401 on an authenticated call triggers one refresh and retry.

import { LfgError } from "./errors";
import type { Session } from "./session";
import type {
  Account,
  AdminUser,
  ApiKey,
  Candle,
  Fill,
  Market,
  MarketResult,
  Me,
  NewApiKey,
  Order,
  TokenPair,
  Trade,
  WireLevel,
} from "./types";

export const API_BASE = "/api/v1";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

type Query = Record<string, string | number | null | undefined>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** One HTTP exchange: JSON in, JSON out; any non-2xx becomes an LfgError. */
export async function requestJson<T>(
  fetchImpl: FetchLike,
  method: string,
  url: string,
  body?: unknown,
  token?: string | null,
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetchImpl(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new LfgError("network", "");
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (res.ok) throw new LfgError("bad_response", text.slice(0, 200), res.status);
    }
  }
  if (!res.ok) {
    const e = (data ?? {}) as { code?: unknown; message?: unknown };
    const code = typeof e.code === "string" ? e.code : codeForStatus(res.status);
    const message = typeof e.message === "string" ? e.message : "";
    const ra = res.headers.get("Retry-After");
    const retryAfter = ra !== null && /^\d+$/.test(ra.trim()) ? Number(ra) : null;
    throw new LfgError(code, message, res.status, retryAfter);
  }
  return data as T;
}

function codeForStatus(status: number): string {
  switch (status) {
    case 400:
      return "invalid_message";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    case 504:
      return "timeout";
    default:
      return "internal";
  }
}

export interface MarketList {
  markets: Market[];
  next_cursor: string | null;
}

export interface BookResponse {
  market: string;
  seq: number;
  bids: WireLevel[];
  asks: WireLevel[];
}

export interface NewMarket {
  ticker: string;
  title: string;
  rules: string;
  close_ts: number;
  fee_bps?: number;
}

export class Api {
  constructor(
    private readonly session: Session,
    private readonly fetchImpl: FetchLike = (input, init) => fetch(input, init),
    private readonly base = API_BASE,
  ) {}

  /** The refresh call the session uses (no bearer: the refresh token is the credential). */
  static refreshRequest(fetchImpl: FetchLike, base = API_BASE) {
    return (refreshToken: string) =>
      requestJson<TokenPair>(fetchImpl, "POST", `${base}/auth/refresh`, { refresh_token: refreshToken });
  }

  private async call<T>(
    method: string,
    path: string,
    opts: { body?: unknown; query?: Query; auth?: boolean } = {},
  ): Promise<T> {
    const url = withQuery(`${this.base}${path}`, opts.query);
    const useAuth = opts.auth ?? true;
    const token = useAuth ? await this.session.accessToken() : null;
    try {
      return await requestJson<T>(this.fetchImpl, method, url, opts.body, token);
    } catch (err) {
      if (token && err instanceof LfgError && err.status === 401) {
        // The access token may have expired early (clock skew, revoked): rotate and retry once.
        if (await this.session.refresh()) {
          return requestJson<T>(this.fetchImpl, method, url, opts.body, await this.session.accessToken());
        }
      }
      throw err;
    }
  }

  // ---- auth -------------------------------------------------------------------------
  register(email: string, password: string): Promise<{ user_id: string }> {
    return this.call("POST", "/auth/register", { body: { email, password }, auth: false });
  }
  async login(email: string, password: string): Promise<void> {
    const pair = await this.call<TokenPair>("POST", "/auth/login", { body: { email, password }, auth: false });
    this.session.setTokens(pair, "login");
  }
  /** Revoke the refresh-token family server-side, then forget the tokens whatever happened. */
  async logout(): Promise<void> {
    try {
      const token = await this.session.accessToken();
      if (token) await requestJson<void>(this.fetchImpl, "POST", `${this.base}/auth/logout`, undefined, token);
    } finally {
      this.session.clear("logout");
    }
  }

  me(): Promise<Me> {
    return this.call("GET", "/me");
  }
  listApiKeys(): Promise<{ api_keys: ApiKey[] }> {
    return this.call("GET", "/me/api-keys");
  }
  createApiKey(name: string): Promise<NewApiKey> {
    return this.call("POST", "/me/api-keys", { body: { name } });
  }
  deleteApiKey(keyId: string): Promise<void> {
    return this.call("DELETE", `/me/api-keys/${encodeURIComponent(keyId)}`);
  }

  // ---- market data ------------------------------------------------------------------
  markets(status?: string, cursor?: string | null, limit = 200): Promise<MarketList> {
    return this.call("GET", "/markets", { query: { status, cursor, limit }, auth: false });
  }
  async market(ticker: string): Promise<Market> {
    // PROTOCOL.md does not say whether the detail is wrapped; accept both shapes.
    const body = await this.call<Market | { market: Market }>("GET", `/markets/${encodeURIComponent(ticker)}`, {
      auth: false,
    });
    return "market" in body && typeof body.market === "object" ? body.market : (body as Market);
  }
  book(ticker: string, depth?: number): Promise<BookResponse> {
    return this.call("GET", `/markets/${encodeURIComponent(ticker)}/book`, { query: { depth }, auth: false });
  }
  trades(ticker: string, limit = 100): Promise<{ trades: Trade[]; next_cursor?: string | null }> {
    return this.call("GET", `/markets/${encodeURIComponent(ticker)}/trades`, { query: { limit }, auth: false });
  }
  candles(ticker: string, interval: string): Promise<{ candles: Candle[] }> {
    return this.call("GET", `/markets/${encodeURIComponent(ticker)}/candles`, { query: { interval }, auth: false });
  }

  // ---- trading ----------------------------------------------------------------------
  orders(query: { status?: string; market?: string; limit?: number }): Promise<{ orders: Order[]; next_cursor?: string | null }> {
    return this.call("GET", "/orders", { query: { limit: 500, ...query } });
  }
  fills(market?: string, limit = 500): Promise<{ fills: Fill[]; next_cursor?: string | null }> {
    return this.call("GET", "/fills", { query: { market, limit } });
  }
  account(): Promise<Account> {
    return this.call("GET", "/account");
  }

  // ---- admin ------------------------------------------------------------------------
  createMarket(m: NewMarket): Promise<unknown> {
    return this.call("POST", "/admin/markets", { body: m });
  }
  marketAction(ticker: string, action: "halt" | "open" | "close"): Promise<unknown> {
    return this.call("POST", `/admin/markets/${encodeURIComponent(ticker)}/${action}`);
  }
  resolveMarket(ticker: string, result: MarketResult): Promise<unknown> {
    return this.call("POST", `/admin/markets/${encodeURIComponent(ticker)}/resolve`, { body: { result } });
  }
  findUsers(email: string): Promise<{ users: AdminUser[] }> {
    return this.call("GET", "/admin/users", { query: { email } });
  }
  credit(userId: string, amount: number): Promise<unknown> {
    return this.call("POST", `/admin/users/${encodeURIComponent(userId)}/credit`, { body: { amount } });
  }
}
