import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LfgError } from "../src/errors";
import { Connection, DEFAULT_BACKOFF, backoffDelay, type ConnStatus, type SocketLike } from "../src/ws";

type Sent = { op: string; id: number; [k: string]: unknown };

class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Sent[] = [];
  closedWith: { code?: number; reason?: string } | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  static get last(): FakeSocket {
    const s = FakeSocket.all.at(-1);
    if (!s) throw new Error("no socket");
    return s;
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Sent);
  }
  close(code?: number, reason?: string): void {
    this.readyState = 3;
    this.closedWith = { code, reason };
  }
  // ---- the server side ----
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(msg: object): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  lastOp(op: string): Sent {
    const m = [...this.sent].reverse().find((s) => s.op === op);
    if (!m) throw new Error(`no ${op} sent; sent: ${JSON.stringify(this.sent)}`);
    return m;
  }
  ops(): string[] {
    return this.sent.map((s) => s.op);
  }
  /** Reply to the last `op` with `type` (and extra fields). */
  reply(op: string, type: string, extra: object = {}): void {
    this.receive({ type, id: this.lastOp(op).id, ...extra });
  }
}

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

function make(opts: { token?: () => Promise<string | null>; onAuthRejected?: () => void } = {}) {
  const statuses: ConnStatus[] = [];
  const conn = new Connection({
    url: "ws://test/ws/v1",
    createSocket: (url) => new FakeSocket(url),
    getToken: opts.token ?? (async () => null),
    onAuthRejected: opts.onAuthRejected,
    random: () => 0, // the smallest delay of each step: base/2, base, 2·base, ...
  });
  conn.onStatus((s) => statuses.push(s));
  return { conn, statuses };
}

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("backoffDelay", () => {
  it("doubles per attempt with half of each step random", () => {
    const p = { baseMs: 500, capMs: 30_000 };
    expect(backoffDelay(1, p, () => 0)).toBe(250);
    expect(backoffDelay(1, p, () => 1)).toBe(500);
    expect(backoffDelay(2, p, () => 0)).toBe(500);
    expect(backoffDelay(3, p, () => 0.5)).toBe(1500);
    expect(backoffDelay(4, p, () => 1)).toBe(4000);
  });

  it("is capped", () => {
    expect(backoffDelay(30, DEFAULT_BACKOFF, () => 1)).toBe(DEFAULT_BACKOFF.capMs);
    expect(backoffDelay(30, DEFAULT_BACKOFF, () => 0)).toBe(DEFAULT_BACKOFF.capMs / 2);
  });

  it("always lies within [step/2, step]", () => {
    for (let attempt = 1; attempt < 12; attempt++) {
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt);
        const step = Math.min(DEFAULT_BACKOFF.capMs, DEFAULT_BACKOFF.baseMs * 2 ** (attempt - 1));
        expect(d).toBeGreaterThanOrEqual(step / 2);
        expect(d).toBeLessThanOrEqual(step);
      }
    }
  });
});

describe("Connection: handshake", () => {
  it("anonymous: subscribes public channels only, then is live", async () => {
    const { conn, statuses } = make();
    const ready = vi.fn();
    conn.onReady(ready);
    void conn.subscribe(["markets", "orders"]);
    conn.start();
    expect(statuses.at(-1)?.state).toBe("connecting");
    FakeSocket.last.open();
    await flush();
    expect(FakeSocket.last.sent).toEqual([{ op: "subscribe", id: 1, channels: ["markets"] }]);
    expect(conn.state.state).toBe("live");
    expect(ready).toHaveBeenCalledTimes(1);
  });

  it("authenticates first, then subscribes private and public channels", async () => {
    const { conn } = make({ token: async () => "tok-1" });
    void conn.subscribe(["markets", "account", "book:MKT"]);
    conn.start();
    const s = FakeSocket.last;
    s.open();
    await flush();
    expect(s.sent).toEqual([{ op: "auth", id: 1, token: "tok-1" }]);
    expect(conn.state.state).toBe("connecting");
    s.reply("auth", "authed", { user_id: "u1" });
    await flush();
    expect(conn.state.userId).toBe("u1");
    expect(s.sent.slice(1)).toEqual([
      { op: "subscribe", id: 2, channels: ["account"] },
      { op: "subscribe", id: 3, channels: ["markets", "book:MKT"] },
    ]);
    expect(conn.state.state).toBe("live");
  });

  it("subscribes at once when already live, and only once per channel", async () => {
    const { conn } = make();
    conn.start();
    FakeSocket.last.open();
    await flush();
    void conn.subscribe(["book:A"]);
    void conn.subscribe(["book:A"]);
    expect(FakeSocket.last.sent).toEqual([{ op: "subscribe", id: 1, channels: ["book:A"] }]);
  });

  it("an auth refusal asks the app to refresh and reconnects", async () => {
    const onAuthRejected = vi.fn();
    const { conn } = make({ token: async () => "bad", onAuthRejected });
    conn.start();
    const s = FakeSocket.last;
    s.open();
    await flush();
    s.reply("auth", "error", { code: "unauthorized", message: "expired" });
    await flush();
    expect(onAuthRejected).toHaveBeenCalledTimes(1);
    expect(s.closedWith).not.toBeNull();
    expect(conn.state.state).toBe("reconnecting");
    vi.advanceTimersByTime(250);
    expect(FakeSocket.all).toHaveLength(2);
  });
});

describe("Connection: reconnect", () => {
  it("re-authenticates with a fresh token and resubscribes after a drop", async () => {
    const tokens = ["tok-1", "tok-2"];
    const { conn } = make({ token: async () => tokens.shift() ?? null });
    void conn.subscribe(["markets", "orders", "book:MKT"]);
    conn.start();
    let s = FakeSocket.last;
    s.open();
    await flush();
    s.reply("auth", "authed", { user_id: "u1" });
    await flush();

    s.drop();
    expect(conn.state.state).toBe("reconnecting");
    expect(conn.state.userId).toBeNull();
    expect(conn.state.attempt).toBe(1);
    vi.advanceTimersByTime(249);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);

    s = FakeSocket.last;
    s.open();
    await flush();
    expect(s.sent[0]).toEqual({ op: "auth", id: expect.any(Number), token: "tok-2" });
    s.reply("auth", "authed", { user_id: "u1" });
    await flush();
    const subscribed = s.sent.filter((m) => m.op === "subscribe").flatMap((m) => m.channels as string[]);
    expect(subscribed.sort()).toEqual(["book:MKT", "markets", "orders"]);
    expect(conn.state.state).toBe("live");
  });

  it("backs off exponentially while the server stays down", async () => {
    const { conn } = make();
    conn.start();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = Date.now();
      const n = FakeSocket.all.length;
      FakeSocket.last.drop();
      while (FakeSocket.all.length === n) vi.advanceTimersByTime(10);
      delays.push(Date.now() - before);
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000]);
    expect(conn.state.attempt).toBe(5);
  });

  it("resets the backoff after a connection that stayed up", async () => {
    const { conn } = make();
    conn.start();
    FakeSocket.last.drop();
    vi.advanceTimersByTime(250);
    FakeSocket.last.drop();
    vi.advanceTimersByTime(500);
    expect(conn.state.attempt).toBe(2);
    const s = FakeSocket.last;
    s.open();
    await flush();
    // Stay up (heartbeats keep it fresh) past the stability threshold.
    for (let t = 0; t < 12; t++) {
      vi.advanceTimersByTime(1_000);
      s.receive({ type: "heartbeat", ts: Date.now() });
    }
    s.drop();
    expect(conn.state.attempt).toBe(1);
    expect(conn.state.retryAt).toBe(Date.now() + 250);
  });

  it("fails pending requests when the socket drops", async () => {
    const { conn } = make();
    conn.start();
    FakeSocket.last.open();
    await flush();
    const p = conn.request({ op: "place", market: "MKT" });
    FakeSocket.last.drop();
    await expect(p).rejects.toMatchObject({ code: "disconnected" });
  });

  it("rejects requests while disconnected", async () => {
    const { conn } = make();
    const err = await conn.request({ op: "ping" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LfgError);
    expect(err).toMatchObject({ code: "offline" });
  });

  it("restart() drops a live socket and reconnects at once (sign in / out)", async () => {
    const { conn } = make();
    conn.start();
    const old = FakeSocket.last;
    old.open();
    await flush();
    conn.restart();
    expect(old.closedWith?.code).toBe(1000);
    expect(old.onmessage).toBeNull();
    expect(FakeSocket.all).toHaveLength(2);
    expect(conn.state.state).toBe("connecting");
  });

  it("restart() during backoff reconnects at once with a clean backoff", () => {
    const { conn } = make();
    conn.start();
    FakeSocket.last.drop();
    expect(conn.state.attempt).toBe(1);
    conn.restart();
    expect(FakeSocket.all).toHaveLength(2);
    expect(conn.state.state).toBe("connecting");
    expect(conn.state.attempt).toBe(0);
  });

  it("reconnectNow() skips the remaining backoff", () => {
    const { conn } = make();
    conn.start();
    FakeSocket.last.drop();
    conn.reconnectNow();
    expect(FakeSocket.all).toHaveLength(2);
  });

  it("stop() closes and stays down", () => {
    const { conn } = make();
    conn.start();
    FakeSocket.last.open();
    conn.stop();
    expect(FakeSocket.last.closedWith?.code).toBe(1000);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(conn.state.state).toBe("stopped");
  });
});

describe("Connection: liveness", () => {
  it("goes stale without traffic, live again on a message, and reconnects when dead", async () => {
    const { conn } = make();
    conn.start();
    const s = FakeSocket.last;
    s.open();
    await flush();
    expect(conn.state.state).toBe("live");
    vi.advanceTimersByTime(25_000);
    expect(conn.state.state).toBe("stale");
    s.receive({ type: "heartbeat", ts: 1 });
    expect(conn.state.state).toBe("live");
    vi.advanceTimersByTime(45_000);
    expect(s.closedWith?.code).toBe(4000);
    expect(conn.state.state).toBe("reconnecting");
    vi.advanceTimersByTime(250);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it("pings when it has sent nothing for a while", async () => {
    const { conn } = make();
    conn.start();
    const s = FakeSocket.last;
    s.open();
    await flush();
    vi.advanceTimersByTime(15_000);
    expect(s.ops()).toContain("ping");
    s.reply("ping", "pong", { ts: 1 });
  });
});

describe("Connection: requests and subscriptions", () => {
  async function live() {
    const made = make();
    made.conn.start();
    FakeSocket.last.open();
    await flush();
    return made.conn;
  }

  it("matches replies by id and turns error replies into LfgError", async () => {
    const conn = await live();
    const s = FakeSocket.last;
    const a = conn.request({ op: "place", market: "A" });
    const b = conn.request({ op: "cancel", order_id: "o1" });
    const [placeId, cancelId] = s.sent.map((m) => m.id);
    s.receive({ type: "error", id: cancelId, code: "not_found", message: "no such order" });
    s.receive({ type: "placed", id: placeId, order: { order_id: "o9" } });
    await expect(a).resolves.toMatchObject({ type: "placed", order: { order_id: "o9" } });
    await expect(b).rejects.toMatchObject({ code: "not_found", serverMessage: "no such order" });
  });

  it("times out a request without a reply", async () => {
    const conn = await live();
    const p = conn.request({ op: "place" });
    vi.advanceTimersByTime(10_000);
    await expect(p).rejects.toMatchObject({ code: "no_reply" });
  });

  it("passes every message to listeners", async () => {
    const conn = await live();
    const seen: string[] = [];
    conn.onMessage((m) => seen.push(m.type));
    FakeSocket.last.receive({ type: "book_delta", market: "A", seq: 2 });
    FakeSocket.last.onmessage?.({ data: "not json" });
    expect(seen).toEqual(["book_delta"]);
  });

  it("reference-counts subscriptions", async () => {
    const conn = await live();
    const s = FakeSocket.last;
    void conn.subscribe(["book:A"]);
    void conn.subscribe(["book:A"]);
    conn.unsubscribe(["book:A"]);
    expect(s.ops()).toEqual(["subscribe"]);
    s.reply("subscribe", "subscribed", { channels: ["book:A"] });
    conn.unsubscribe(["book:A"]);
    expect(s.lastOp("unsubscribe").channels).toEqual(["book:A"]);
  });

  it("resubscribe() unsubscribes then subscribes again (a book gap)", async () => {
    const conn = await live();
    const s = FakeSocket.last;
    void conn.subscribe(["book:A"]);
    s.reply("subscribe", "subscribed", { channels: ["book:A"] });
    await flush();
    const done = conn.resubscribe(["book:A"]);
    expect(s.ops()).toEqual(["subscribe", "unsubscribe"]);
    s.reply("unsubscribe", "unsubscribed", { channels: ["book:A"] });
    await flush();
    expect(s.ops()).toEqual(["subscribe", "unsubscribe", "subscribe"]);
    expect(s.lastOp("subscribe").channels).toEqual(["book:A"]);
    s.reply("subscribe", "subscribed", { channels: ["book:A"] });
    await done;
  });

  it("one unknown market does not sink the other channels of a batch", async () => {
    const conn = await live();
    const s = FakeSocket.last;
    const p = conn.subscribe(["ticker:A", "ticker:GONE"]);
    s.reply("subscribe", "error", { code: "not_found", message: "GONE" });
    await flush();
    const singles = s.sent.filter((m) => m.op === "subscribe").slice(1);
    expect(singles.map((m) => m.channels)).toEqual([["ticker:A"], ["ticker:GONE"]]);
    s.receive({ type: "subscribed", id: singles[0]?.id, channels: ["ticker:A"] });
    s.receive({ type: "error", id: singles[1]?.id, code: "not_found", message: "GONE" });
    await expect(p).rejects.toMatchObject({ code: "not_found" });
  });
});
