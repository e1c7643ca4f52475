// The signed-in session: access and refresh tokens, kept in localStorage so a reload or
// another tab stays signed in, and refreshed before the access token expires.
//
// Refresh tokens rotate and "the old refresh token is spent" (PROTOCOL.md), with reuse
// detection server-side: two tabs refreshing with the same token would revoke the family.
// So a refresh runs under a cross-tab Web Lock, and inside it re-reads storage first: if
// another tab already rotated the pair, this tab adopts the new one instead of spending
// the old one again.

import { LfgError } from "./errors";
import type { TokenPair } from "./types";

export const STORAGE_KEY = "lfg.session.v1";

export interface StoredTokens {
  access: string;
  refresh: string;
  issuedAt: number;
  expiresAt: number;
}

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export interface SessionDeps {
  storage: KeyValueStorage;
  refreshRequest: (refreshToken: string) => Promise<TokenPair>;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  locks?: LockManagerLike | null;
}

export type SessionEvent = "login" | "logout" | "expired" | "refreshed";

/**
 * When to refresh: a margin before expiry of a quarter of the lifetime, at most a minute
 * (a 15-minute token is refreshed at 14 minutes).
 */
export function refreshAt(t: Pick<StoredTokens, "issuedAt" | "expiresAt">): number {
  const lifetime = Math.max(0, t.expiresAt - t.issuedAt);
  const margin = Math.min(60_000, Math.floor(lifetime / 4));
  return t.expiresAt - margin;
}

const RETRY_MS = 5_000;

export class Session {
  private tokens: StoredTokens | null;
  private inflight: Promise<boolean> | null = null;
  private timer: unknown = null;
  private readonly listeners = new Set<(e: SessionEvent) => void>();
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly deps: SessionDeps) {
    this.now = deps.now ?? Date.now;
    this.setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = deps.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.tokens = this.read();
    this.schedule();
  }

  get loggedIn(): boolean {
    return this.tokens !== null;
  }

  /** The refresh token, for logout. */
  get refreshToken(): string | null {
    return this.tokens?.refresh ?? null;
  }

  onChange(listener: (e: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Store a pair from login (or refresh). */
  setTokens(pair: TokenPair, event: SessionEvent = "login"): void {
    const issuedAt = this.now();
    this.tokens = {
      access: pair.access_token,
      refresh: pair.refresh_token,
      issuedAt,
      expiresAt: issuedAt + pair.expires_in * 1000,
    };
    this.deps.storage.setItem(STORAGE_KEY, JSON.stringify(this.tokens));
    this.schedule();
    this.emit(event);
  }

  /** Forget the tokens (logout, or the refresh token was refused). */
  clear(event: "logout" | "expired" = "logout"): void {
    const had = this.tokens !== null;
    this.tokens = null;
    this.deps.storage.removeItem(STORAGE_KEY);
    this.schedule();
    if (had) this.emit(event);
  }

  /** Another tab changed storage: follow it. */
  syncFromStorage(): void {
    const stored = this.read();
    const before = this.tokens;
    if (stored?.refresh === before?.refresh && stored?.access === before?.access) return;
    this.tokens = stored;
    this.schedule();
    if (!before && stored) this.emit("login");
    else if (before && !stored) this.emit("logout");
    else this.emit("refreshed");
  }

  /** A current access token, refreshed first when due; null when signed out. */
  async accessToken(): Promise<string | null> {
    if (this.tokens && this.now() >= refreshAt(this.tokens)) await this.refresh();
    return this.tokens?.access ?? null;
  }

  /** Rotate the pair now. True when a usable pair is held afterwards. */
  refresh(): Promise<boolean> {
    if (!this.tokens) return Promise.resolve(false);
    if (!this.inflight) {
      const spent = this.tokens.refresh;
      const run = () => this.rotate(spent);
      const locks = this.deps.locks;
      this.inflight = (locks ? locks.request("lfg-session-refresh", run) : run()).finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async rotate(spent: string): Promise<boolean> {
    const stored = this.read();
    if (!stored) {
      // Signed out in another tab.
      if (this.tokens) this.clear("logout");
      return false;
    }
    if (stored.refresh !== spent) {
      // Another tab rotated already: adopt its pair rather than reuse the spent token.
      this.tokens = stored;
      this.schedule();
      this.emit("refreshed");
      return true;
    }
    try {
      const pair = await this.deps.refreshRequest(spent);
      if (this.tokens?.refresh !== spent) return this.tokens !== null;
      this.setTokens(pair, "refreshed");
      return true;
    } catch (err) {
      if (err instanceof LfgError && (err.code === "unauthorized" || err.status === 401)) {
        this.clear("expired");
        return false;
      }
      // Network trouble or the server is busy: keep the pair and try again soon.
      this.schedule(RETRY_MS);
      return false;
    }
  }

  private schedule(overrideMs?: number): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    if (!this.tokens) return;
    const delay = overrideMs ?? Math.max(1_000, refreshAt(this.tokens) - this.now());
    this.timer = this.setTimer(() => {
      this.timer = null;
      void this.refresh();
    }, delay);
  }

  private read(): StoredTokens | null {
    const raw = this.deps.storage.getItem(STORAGE_KEY);
    if (!raw) return null;
    try {
      const t = JSON.parse(raw) as Partial<StoredTokens>;
      if (
        typeof t.access === "string" &&
        typeof t.refresh === "string" &&
        typeof t.issuedAt === "number" &&
        typeof t.expiresAt === "number"
      ) {
        return { access: t.access, refresh: t.refresh, issuedAt: t.issuedAt, expiresAt: t.expiresAt };
      }
    } catch {
      // Corrupt entry: treat as signed out.
    }
    return null;
  }

  private emit(e: SessionEvent): void {
    for (const l of this.listeners) l(e);
  }
}
