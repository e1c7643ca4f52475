// The application context: session, REST client, WebSocket connection and the shared
// state every view reads (signed-in user, balances, markets, open orders).

import { Api } from "./api";
import { LfgError, errorText } from "./errors";
import { Session, STORAGE_KEY } from "./session";
import { Store } from "./store";
import type { Account, Market, MarketMsg, Me, Order, ServerMsg, TickerMsg } from "./types";
import { Connection, type SocketLike } from "./ws";

export type ToastKind = "info" | "ok" | "error";
export interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
}

const OPEN_STATUSES = new Set(["open", "partially_filled"]);

export function isOpenOrder(o: Order): boolean {
  return OPEN_STATUSES.has(o.status);
}

export class App {
  readonly session: Session;
  readonly api: Api;
  readonly ws: Connection;
  readonly me = new Store<Me | null>(null);
  readonly account = new Store<Account | null>(null);
  /** Every market seen, by ticker, kept live by `markets` and `ticker:*`. */
  readonly markets = new Store<ReadonlyMap<string, Market>>(new Map());
  /** The user's open orders, by id, kept live by `orders` and trading replies. */
  readonly orders = new Store<ReadonlyMap<string, Order>>(new Map());
  readonly toasts = new Store<readonly Toast[]>([]);
  private toastId = 0;

  constructor() {
    const fetchImpl = (input: string, init?: RequestInit) => fetch(input, init);
    this.session = new Session({
      storage: window.localStorage,
      refreshRequest: Api.refreshRequest(fetchImpl),
      locks: navigator.locks
        ? { request: <T>(name: string, cb: () => Promise<T>) => navigator.locks.request(name, cb) as Promise<unknown> as Promise<T> }
        : null,
    });
    this.api = new Api(this.session, fetchImpl);
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    this.ws = new Connection({
      url: `${proto}//${location.host}/ws/v1`,
      // WebSocket has exactly SocketLike's shape; its DOM handler types are just stricter.
      createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
      getToken: () => this.session.accessToken(),
      onAuthRejected: async () => {
        await this.session.refresh();
      },
    });
    this.ws.onMessage((msg) => this.route(msg));
    this.ws.onReady(() => {
      if (this.session.loggedIn) void this.loadAccount();
    });
    this.session.onChange((event) => this.onSession(event));
    window.addEventListener("storage", (e) => {
      if (e.key === STORAGE_KEY || e.key === null) this.session.syncFromStorage();
    });
    window.addEventListener("online", () => this.ws.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.ws.reconnectNow();
    });
  }

  start(): void {
    this.ws.subscribe(["markets"]).catch((e: unknown) => this.toast("error", errorText(e)));
    if (this.session.loggedIn) {
      this.subscribePrivate();
      void this.loadMe();
    }
    this.ws.start();
  }

  // ---- session ----------------------------------------------------------------------

  private privateSubscribed = false;

  private subscribePrivate(): void {
    if (this.privateSubscribed) return;
    this.privateSubscribed = true;
    this.ws.subscribe(["orders", "fills", "account"]).catch((e: unknown) => this.toast("error", errorText(e)));
  }

  private unsubscribePrivate(): void {
    if (!this.privateSubscribed) return;
    this.privateSubscribed = false;
    this.ws.unsubscribe(["orders", "fills", "account"]);
  }

  private onSession(event: string): void {
    if (event === "login") {
      this.subscribePrivate();
      void this.loadMe();
      // "A connection may authenticate once": a new identity needs a new connection.
      this.ws.restart();
    } else if (event === "logout" || event === "expired") {
      this.unsubscribePrivate();
      this.me.set(null);
      this.account.set(null);
      this.orders.set(new Map());
      this.ws.restart();
      if (event === "expired") this.toast("error", "Your session expired. Please log in again.");
      const page = location.hash.split("/")[1] ?? "";
      if (page === "account" || page === "admin") location.hash = "#/login";
    }
  }

  async loadMe(): Promise<void> {
    try {
      this.me.set(await this.api.me());
      await this.loadAccount();
    } catch (err) {
      if (err instanceof LfgError && err.status === 401) this.session.clear("expired");
      else this.toast("error", errorText(err));
    }
  }

  async loadAccount(): Promise<void> {
    try {
      this.account.set(await this.api.account());
    } catch (err) {
      if (!(err instanceof LfgError && err.status === 401)) this.toast("error", errorText(err));
    }
  }

  async logout(): Promise<void> {
    try {
      await this.api.logout();
    } catch {
      // The tokens are gone locally whatever the server said.
    }
    location.hash = "#/markets";
  }

  // ---- shared state -----------------------------------------------------------------

  mergeMarkets(list: readonly Market[]): void {
    const next = new Map(this.markets.value);
    for (const m of list) next.set(m.ticker, { ...next.get(m.ticker), ...m });
    this.markets.set(next);
  }

  upsertOrder(order: Order): void {
    const cur = this.orders.value.get(order.order_id);
    if (cur && (cur.updated_ts > order.updated_ts || (cur.updated_ts === order.updated_ts && cur.filled_qty > order.filled_qty))) return;
    const next = new Map(this.orders.value);
    if (isOpenOrder(order)) next.set(order.order_id, order);
    else next.delete(order.order_id);
    this.orders.set(next);
  }

  /** Replace the open orders of one market (or all, for `market` null) with a fresh list. */
  replaceOpenOrders(market: string | null, list: readonly Order[]): void {
    const next = new Map<string, Order>();
    for (const [id, o] of this.orders.value) if (market !== null && o.market !== market) next.set(id, o);
    for (const o of list) if (isOpenOrder(o) && (market === null || o.market === market)) next.set(o.order_id, o);
    this.orders.set(next);
  }

  toast(kind: ToastKind, text: string, ms = 6_000): void {
    const id = ++this.toastId;
    this.toasts.set([...this.toasts.value, { id, kind, text }].slice(-5));
    setTimeout(() => this.toasts.set(this.toasts.value.filter((t) => t.id !== id)), ms);
  }

  private route(msg: ServerMsg): void {
    switch (msg.type) {
      case "market": {
        const m = msg as unknown as MarketMsg;
        const cur = this.markets.value.get(m.market);
        if (cur) this.mergeMarkets([{ ...cur, status: m.status, result: m.result ?? cur.result }]);
        else this.onUnknownMarket(m.market);
        break;
      }
      case "ticker": {
        const t = msg as unknown as TickerMsg;
        const cur = this.markets.value.get(t.market);
        if (cur) {
          this.mergeMarkets([
            {
              ...cur,
              last: t.last ?? cur.last,
              best_bid: t.best_bid !== undefined ? t.best_bid : cur.best_bid,
              best_ask: t.best_ask !== undefined ? t.best_ask : cur.best_ask,
              volume: t.volume ?? cur.volume,
              open_interest: t.open_interest ?? cur.open_interest,
            },
          ]);
        }
        break;
      }
      case "account": {
        const { available, held, positions } = msg as unknown as Account;
        this.account.set({ available, held, positions: positions ?? [] });
        break;
      }
      case "order":
      case "placed":
      case "cancelled":
      case "amended": {
        const order = msg["order"] as Order | undefined;
        if (order && typeof order === "object") this.upsertOrder(order);
        break;
      }
      case "error":
        if (msg.id === null || msg.id === undefined) {
          this.toast("error", new LfgError(String(msg["code"]), String(msg["message"] ?? "")).message);
        }
        break;
    }
  }

  private readonly unknown = new Set<string>();

  /** A market we have not listed (just created): fetch it, coalescing bursts. */
  private onUnknownMarket(ticker: string): void {
    if (this.unknown.has(ticker)) return;
    this.unknown.add(ticker);
    setTimeout(() => {
      this.api
        .market(ticker)
        .then((m) => this.mergeMarkets([m]))
        .catch(() => undefined)
        .finally(() => this.unknown.delete(ticker));
    }, 300);
  }
}
