import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Api, requestJson, type FetchLike } from "../src/api";
import { LfgError } from "../src/errors";
import { STORAGE_KEY, Session, refreshAt, type KeyValueStorage } from "../src/session";
import type { TokenPair } from "../src/types";

class MemoryStorage implements KeyValueStorage {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}

const pair = (n: number, expires_in = 900): TokenPair => ({ access_token: `a${n}`, refresh_token: `r${n}`, expires_in });

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_000_000);
});
afterEach(() => vi.useRealTimers());

describe("refreshAt", () => {
  it("refreshes a minute early for long tokens, a quarter early for short ones", () => {
    expect(refreshAt({ issuedAt: 0, expiresAt: 900_000 })).toBe(840_000);
    expect(refreshAt({ issuedAt: 0, expiresAt: 20_000 })).toBe(15_000);
  });
});

describe("Session", () => {
  it("stores tokens and refreshes on schedule before expiry", async () => {
    const storage = new MemoryStorage();
    const refreshRequest = vi.fn(async (rt: string) => (rt === "r1" ? pair(2) : pair(3)));
    const s = new Session({ storage, refreshRequest });
    s.setTokens(pair(1));
    expect(JSON.parse(storage.getItem(STORAGE_KEY) ?? "{}").refresh).toBe("r1");
    await vi.advanceTimersByTimeAsync(839_000);
    expect(refreshRequest).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(refreshRequest).toHaveBeenCalledWith("r1");
    expect(await s.accessToken()).toBe("a2");
  });

  it("refreshes on demand when the access token is due, once for concurrent callers", async () => {
    const storage = new MemoryStorage();
    const refreshRequest = vi.fn(async () => pair(2));
    const s = new Session({ storage, refreshRequest, setTimer: () => 0, clearTimer: () => undefined });
    s.setTokens(pair(1));
    vi.setSystemTime(1_000_000 + 850_000);
    const [a, b] = await Promise.all([s.accessToken(), s.accessToken()]);
    expect([a, b]).toEqual(["a2", "a2"]);
    expect(refreshRequest).toHaveBeenCalledTimes(1);
  });

  it("adopts a pair another tab already rotated instead of reusing the spent token", async () => {
    const storage = new MemoryStorage();
    const refreshRequest = vi.fn(async () => pair(9));
    const s = new Session({ storage, refreshRequest, setTimer: () => 0, clearTimer: () => undefined });
    s.setTokens(pair(1));
    // The other tab rotated r1 → r2 and wrote storage.
    const other = new Session({ storage, refreshRequest: async () => pair(2), setTimer: () => 0, clearTimer: () => undefined });
    await other.refresh();
    expect(await s.refresh()).toBe(true);
    expect(refreshRequest).not.toHaveBeenCalled();
    expect(await s.accessToken()).toBe("a2");
  });

  it("signs out when the refresh token is refused", async () => {
    const storage = new MemoryStorage();
    const events: string[] = [];
    const s = new Session({
      storage,
      refreshRequest: async () => {
        throw new LfgError("unauthorized", "reused", 401);
      },
      setTimer: () => 0,
      clearTimer: () => undefined,
    });
    s.onChange((e) => events.push(e));
    s.setTokens(pair(1));
    expect(await s.refresh()).toBe(false);
    expect(s.loggedIn).toBe(false);
    expect(storage.getItem(STORAGE_KEY)).toBeNull();
    expect(events).toEqual(["login", "expired"]);
  });

  it("keeps the pair through a network failure", async () => {
    const storage = new MemoryStorage();
    const s = new Session({
      storage,
      refreshRequest: async () => {
        throw new LfgError("network", "");
      },
      setTimer: () => 0,
      clearTimer: () => undefined,
    });
    s.setTokens(pair(1));
    expect(await s.refresh()).toBe(false);
    expect(s.loggedIn).toBe(true);
  });

  it("follows another tab's sign-out", () => {
    const storage = new MemoryStorage();
    const s = new Session({ storage, refreshRequest: async () => pair(2), setTimer: () => 0, clearTimer: () => undefined });
    s.setTokens(pair(1));
    const events: string[] = [];
    s.onChange((e) => events.push(e));
    storage.removeItem(STORAGE_KEY);
    s.syncFromStorage();
    expect(s.loggedIn).toBe(false);
    expect(events).toEqual(["logout"]);
  });
});

function jsonResponse(status: number, body?: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers });
}

describe("REST client", () => {
  it("turns error bodies into LfgError with the server's code and message", async () => {
    const fetchImpl: FetchLike = async () => jsonResponse(400, { code: "invalid_message", message: "password needs a digit" });
    const err = await requestJson(fetchImpl, "POST", "/x", {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LfgError);
    expect(err).toMatchObject({ code: "invalid_message", serverMessage: "password needs a digit", status: 400 });
    expect((err as Error).message).toContain("password needs a digit");
  });

  it("reads Retry-After on 429", async () => {
    const fetchImpl: FetchLike = async () => jsonResponse(429, { code: "rate_limited", message: "" }, { "Retry-After": "3" });
    await expect(requestJson(fetchImpl, "GET", "/x")).rejects.toMatchObject({ code: "rate_limited", retryAfter: 3 });
  });

  it("maps a network failure and an empty 204", async () => {
    await expect(requestJson(async () => Promise.reject(new TypeError("boom")), "GET", "/x")).rejects.toMatchObject({ code: "network" });
    await expect(requestJson(async () => new Response(null, { status: 204 }), "DELETE", "/x")).resolves.toBeUndefined();
  });

  it("sends the bearer token, and on a 401 refreshes once and retries", async () => {
    const storage = new MemoryStorage();
    const s = new Session({ storage, refreshRequest: async () => pair(2), setTimer: () => 0, clearTimer: () => undefined });
    s.setTokens(pair(1));
    const seen: Array<string | null> = [];
    const fetchImpl: FetchLike = async (_url, init) => {
      const auth = new Headers(init?.headers).get("Authorization");
      seen.push(auth);
      return auth === "Bearer a2" ? jsonResponse(200, { user_id: "u", email: "e", role: "trader", created_ts: 1 }) : jsonResponse(401, { code: "unauthorized", message: "expired" });
    };
    const api = new Api(s, fetchImpl);
    await expect(api.me()).resolves.toMatchObject({ user_id: "u" });
    expect(seen).toEqual(["Bearer a1", "Bearer a2"]);
  });

  it("unwraps a market detail whether or not it is wrapped", async () => {
    const storage = new MemoryStorage();
    const s = new Session({ storage, refreshRequest: async () => pair(2) });
    const m = { ticker: "A", title: "t" };
    expect(await new Api(s, async () => jsonResponse(200, m)).market("A")).toMatchObject(m);
    expect(await new Api(s, async () => jsonResponse(200, { market: m })).market("A")).toMatchObject(m);
  });
});
