// The WebSocket connection to /ws/v1: one socket, re-established with exponential backoff
// and jitter, re-authenticated with a fresh access token and resubscribed after every
// reconnect. The socket and the timers are injected so the logic is testable without a
// browser.
//
// PROTOCOL.md: client messages carry `op` and an optional integer `id` echoed in the
// reply; server messages carry `type`. `auth` → `authed`; "A connection may authenticate
// once", so signing in or out restarts the connection. A `heartbeat` arrives at least
// every 10 s on a subscribed connection: silence means the link is stale, then dead.

import { LfgError } from "./errors";
import type { ServerMsg } from "./types";

export const SOCKET_OPEN = 1;

export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000 };

/**
 * Delay before reconnect attempt `attempt` (1, 2, 3, ...): the exponential step
 * `min(cap, base × 2^(attempt−1))`, half of it fixed and half random ("equal jitter"), so
 * a crowd of clients dropped together does not come back in lockstep and no retry is
 * immediate.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

/** Channels that need an authenticated connection. */
export const PRIVATE_CHANNELS: ReadonlySet<string> = new Set(["orders", "fills", "account"]);

export type ConnState = "connecting" | "live" | "stale" | "reconnecting" | "stopped";

export interface ConnStatus {
  state: ConnState;
  /** Reconnect attempts since the connection was last stable. */
  attempt: number;
  /** When the next reconnect is due (ms), while reconnecting. */
  retryAt: number | null;
  /** The user id the connection is authenticated as, or null. */
  userId: string | null;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  now(): number;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
  now: () => Date.now(),
};

export interface ConnectionOptions {
  url: string;
  createSocket: (url: string) => SocketLike;
  /** A current access token (refreshed if due), or null to stay anonymous. */
  getToken: () => Promise<string | null>;
  /** The server refused the token: refresh it (or sign out) before the next attempt. */
  onAuthRejected?: () => void | Promise<void>;
  backoff?: BackoffPolicy;
  random?: () => number;
  timers?: Timers;
  /** No message for this long: show "stale". Heartbeats come every ≤ 10 s. */
  staleAfterMs?: number;
  /** No message for this long: drop the socket and reconnect. */
  deadAfterMs?: number;
  /** Send a `ping` when nothing was sent for this long, to keep traffic flowing. */
  pingEveryMs?: number;
  /** A request without a reply for this long fails with `no_reply`. */
  requestTimeoutMs?: number;
  /** A connection that stayed live this long resets the backoff. */
  stableAfterMs?: number;
}

interface Pending {
  resolve: (msg: ServerMsg) => void;
  reject: (err: LfgError) => void;
  timer: unknown;
}

export type ClientOp = { op: string; [key: string]: unknown };

export class Connection {
  private readonly o: Required<Omit<ConnectionOptions, "onAuthRejected">> & Pick<ConnectionOptions, "onAuthRejected">;
  private socket: SocketLike | null = null;
  /** Bumped for every socket, so callbacks of an old one are ignored. */
  private generation = 0;
  /** Subscribe/unsubscribe only once the handshake (auth) is done on this socket. */
  private ready = false;
  private readonly wanted = new Map<string, number>();
  private readonly active = new Set<string>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private attempt = 0;
  private liveSince: number | null = null;
  private lastRecv = 0;
  private lastSent = 0;
  private retryTimer: unknown = null;
  private checkTimer: unknown = null;
  private stopped = true;
  private status: ConnStatus = { state: "stopped", attempt: 0, retryAt: null, userId: null };
  private readonly msgListeners = new Set<(msg: ServerMsg) => void>();
  private readonly statusListeners = new Set<(s: ConnStatus) => void>();
  private readonly readyListeners = new Set<() => void>();

  constructor(options: ConnectionOptions) {
    this.o = {
      backoff: DEFAULT_BACKOFF,
      random: Math.random,
      timers: realTimers,
      staleAfterMs: 25_000,
      deadAfterMs: 45_000,
      pingEveryMs: 15_000,
      requestTimeoutMs: 10_000,
      stableAfterMs: 10_000,
      ...options,
    };
  }

  // ---- observation ------------------------------------------------------------------

  get state(): ConnStatus {
    return this.status;
  }

  /** Every server message, replies included. */
  onMessage(fn: (msg: ServerMsg) => void): () => void {
    this.msgListeners.add(fn);
    return () => this.msgListeners.delete(fn);
  }

  onStatus(fn: (s: ConnStatus) => void): () => void {
    this.statusListeners.add(fn);
    fn(this.status);
    return () => this.statusListeners.delete(fn);
  }

  /**
   * After every (re)connect, once authenticated and resubscribed: REST-backed state that
   * may have moved while disconnected (orders, fills, balances) should be reloaded.
   */
  onReady(fn: () => void): () => void {
    this.readyListeners.add(fn);
    return () => this.readyListeners.delete(fn);
  }

  // ---- lifecycle --------------------------------------------------------------------

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearRetry();
    this.dropSocket(1000, "client stop");
    this.setStatus({ state: "stopped", retryAt: null });
  }

  /** Drop the socket and connect again at once (sign in / sign out). */
  restart(): void {
    if (this.stopped) return this.start();
    this.clearRetry();
    this.dropSocket(1000, "client restart");
    this.attempt = 0;
    this.connect();
  }

  /** Skip the remaining backoff (the browser came back online, the tab became visible). */
  reconnectNow(): void {
    if (this.stopped || this.retryTimer === null) return;
    this.clearRetry();
    this.connect();
  }

  // ---- subscriptions ----------------------------------------------------------------

  /** Reference-counted: a channel stays subscribed until every subscriber let go. */
  subscribe(channels: readonly string[]): Promise<void> {
    const fresh: string[] = [];
    for (const ch of channels) {
      const n = this.wanted.get(ch) ?? 0;
      this.wanted.set(ch, n + 1);
      if (n === 0) fresh.push(ch);
    }
    return this.sendSubscribe(fresh);
  }

  unsubscribe(channels: readonly string[]): void {
    const gone: string[] = [];
    for (const ch of channels) {
      const n = this.wanted.get(ch) ?? 0;
      if (n <= 1) {
        this.wanted.delete(ch);
        if (this.active.delete(ch)) gone.push(ch);
      } else this.wanted.set(ch, n - 1);
    }
    if (gone.length && this.ready) this.request({ op: "unsubscribe", channels: gone }).catch(() => undefined);
  }

  /** Unsubscribe and subscribe again: the server restarts the channel (a book sends a fresh snapshot). */
  async resubscribe(channels: readonly string[]): Promise<void> {
    const live = channels.filter((ch) => this.active.has(ch));
    if (!this.ready || live.length === 0) return;
    for (const ch of live) this.active.delete(ch);
    await this.request({ op: "unsubscribe", channels: live }).catch(() => undefined);
    const still = live.filter((ch) => this.wanted.has(ch) && !this.active.has(ch));
    await this.sendSubscribe(still);
  }

  private allowed(ch: string): boolean {
    return !PRIVATE_CHANNELS.has(ch) || this.status.userId !== null;
  }

  private async sendSubscribe(channels: readonly string[]): Promise<void> {
    if (!this.ready) return;
    const batch = channels.filter((ch) => this.allowed(ch) && !this.active.has(ch));
    if (batch.length === 0) return;
    for (const ch of batch) this.active.add(ch);
    try {
      await this.request({ op: "subscribe", channels: batch });
    } catch (err) {
      for (const ch of batch) this.active.delete(ch);
      if (!(err instanceof LfgError) || err.code !== "not_found" || batch.length === 1) throw err;
      // One unknown market fails the whole batch: subscribe the rest one by one.
      const results = await Promise.allSettled(batch.map((ch) => this.sendSubscribe([ch])));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    }
  }

  // ---- requests ---------------------------------------------------------------------

  /** Send `op` with a fresh `id`; resolves with the reply, rejects with its `error`. */
  request(msg: ClientOp): Promise<ServerMsg> {
    const socket = this.socket;
    if (!socket || socket.readyState !== SOCKET_OPEN) {
      return Promise.reject(new LfgError("offline", ""));
    }
    const id = this.nextId++;
    return new Promise<ServerMsg>((resolve, reject) => {
      const timer = this.o.timers.setTimeout(() => {
        this.pending.delete(id);
        reject(new LfgError("no_reply", ""));
      }, this.o.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        socket.send(JSON.stringify({ ...msg, id }));
        this.lastSent = this.o.timers.now();
      } catch {
        this.settle(id, null, new LfgError("disconnected", "send failed"));
      }
    });
  }

  private settle(id: number, reply: ServerMsg | null, err?: LfgError): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.o.timers.clearTimeout(p.timer);
    if (err) p.reject(err);
    else if (reply && reply.type === "error") {
      p.reject(new LfgError(String(reply["code"] ?? "internal"), String(reply["message"] ?? "")));
    } else if (reply) p.resolve(reply);
  }

  // ---- the socket -------------------------------------------------------------------

  private connect(): void {
    const gen = ++this.generation;
    this.ready = false;
    this.active.clear();
    this.setStatus({
      state: this.attempt === 0 ? "connecting" : "reconnecting",
      attempt: this.attempt,
      retryAt: null,
      userId: null,
    });
    let socket: SocketLike;
    try {
      socket = this.o.createSocket(this.o.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (gen !== this.generation) return;
      this.lastRecv = this.lastSent = this.o.timers.now();
      this.startChecks();
      void this.handshake(gen);
    };
    socket.onmessage = (ev) => {
      if (gen !== this.generation) return;
      this.receive(ev.data);
    };
    socket.onclose = (ev) => {
      if (gen !== this.generation) return;
      this.socketGone();
      // 1008: auth failed (or no auth in time). Give the app a chance to refresh first.
      if (ev.code === 1008) void this.o.onAuthRejected?.();
      if (!this.stopped) this.scheduleReconnect();
    };
    socket.onerror = () => undefined; // a close event always follows
  }

  private async handshake(gen: number): Promise<void> {
    let token: string | null = null;
    try {
      token = await this.o.getToken();
    } catch {
      token = null;
    }
    if (gen !== this.generation) return;
    if (token) {
      try {
        const reply = await this.request({ op: "auth", token });
        if (gen !== this.generation) return;
        this.setStatus({ userId: typeof reply["user_id"] === "string" ? reply["user_id"] : "?" });
      } catch (err) {
        if (gen !== this.generation) return;
        if (err instanceof LfgError && !["offline", "disconnected", "no_reply"].includes(err.code)) {
          // The server closes a connection that fails auth; don't wait for it.
          await this.o.onAuthRejected?.();
        }
        if (gen !== this.generation) return;
        this.dropSocket(1000, "auth failed");
        if (!this.stopped) this.scheduleReconnect();
        return;
      }
    }
    this.ready = true;
    const all = [...this.wanted.keys()];
    const publicChannels = all.filter((ch) => !PRIVATE_CHANNELS.has(ch));
    const privateChannels = all.filter((ch) => PRIVATE_CHANNELS.has(ch));
    for (const batch of [privateChannels, publicChannels]) {
      this.sendSubscribe(batch).catch((err: unknown) => this.emitLocalError(err));
    }
    this.liveSince = this.o.timers.now();
    this.setStatus({ state: "live", attempt: this.attempt });
    for (const fn of this.readyListeners) fn();
  }

  private receive(data: unknown): void {
    this.lastRecv = this.o.timers.now();
    if (this.status.state === "stale") this.setStatus({ state: "live" });
    if (typeof data !== "string") return;
    let msg: ServerMsg;
    try {
      msg = JSON.parse(data) as ServerMsg;
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
    if (typeof msg.id === "number") this.settle(msg.id, msg);
    for (const fn of this.msgListeners) fn(msg);
  }

  private emitLocalError(err: unknown): void {
    if (!(err instanceof LfgError) || err.code === "disconnected" || err.code === "offline") return;
    const msg: ServerMsg = { type: "error", code: err.code, message: err.serverMessage, id: null };
    for (const fn of this.msgListeners) fn(msg);
  }

  private startChecks(): void {
    this.stopChecks();
    const every = Math.max(250, Math.min(1_000, this.o.staleAfterMs / 4));
    this.checkTimer = this.o.timers.setInterval(() => this.check(), every);
  }

  private stopChecks(): void {
    if (this.checkTimer !== null) this.o.timers.clearInterval(this.checkTimer);
    this.checkTimer = null;
  }

  private check(): void {
    const now = this.o.timers.now();
    const idle = now - this.lastRecv;
    if (idle >= this.o.deadAfterMs) {
      // A dead TCP link may take minutes to report close: give up on it now.
      this.dropSocket(4000, "no data");
      if (!this.stopped) this.scheduleReconnect();
      return;
    }
    if (idle >= this.o.staleAfterMs && this.status.state === "live") this.setStatus({ state: "stale" });
    if (this.ready && now - this.lastSent >= this.o.pingEveryMs) {
      this.request({ op: "ping" }).catch(() => undefined);
    }
  }

  /** Forget the current socket: pending requests fail, channels must be resent. */
  private socketGone(): void {
    this.socket = null;
    this.ready = false;
    this.active.clear();
    this.stopChecks();
    for (const [id] of this.pending) this.settle(id, null, new LfgError("disconnected", "connection lost"));
    if (this.liveSince !== null && this.o.timers.now() - this.liveSince >= this.o.stableAfterMs) this.attempt = 0;
    this.liveSince = null;
    this.setStatus({ userId: null });
  }

  private dropSocket(code: number, reason: string): void {
    const socket = this.socket;
    if (!socket) return;
    this.generation++; // ignore whatever the old socket still reports
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    try {
      socket.close(code, reason);
    } catch {
      // already closed
    }
    this.socketGone();
  }

  private scheduleReconnect(): void {
    this.clearRetry();
    this.attempt += 1;
    const delay = backoffDelay(this.attempt, this.o.backoff, this.o.random);
    const retryAt = this.o.timers.now() + delay;
    this.retryTimer = this.o.timers.setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
    this.setStatus({ state: "reconnecting", attempt: this.attempt, retryAt, userId: null });
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) this.o.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private setStatus(patch: Partial<ConnStatus>): void {
    this.status = { ...this.status, ...patch };
    for (const fn of this.statusListeners) fn(this.status);
  }
}
