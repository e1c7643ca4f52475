import { describe, expect, it } from "vitest";
import type { Fill, Trade } from "../src/types";
import { mergeFills } from "../src/views/orders";
import { TradeTape } from "../src/views/tape";

const trade = (id: string, ts: number): Trade => ({ trade_id: id, price: 50, qty: 1, taker_side: "buy", ts });

describe("TradeTape", () => {
  it("keeps trades newest first without duplicates", () => {
    const t = new TradeTape();
    expect(t.add([trade("a", 1), trade("b", 3)])).toBe(true);
    expect(t.add([trade("a", 1)])).toBe(false);
    t.add([trade("c", 2)]);
    expect(t.trades.map((x) => x.trade_id)).toEqual(["b", "c", "a"]);
  });

  it("is capped", () => {
    const t = new TradeTape(5);
    for (let i = 0; i < 20; i++) t.add([trade(`t${i}`, i)]);
    expect(t.trades.map((x) => x.trade_id)).toEqual(["t19", "t18", "t17", "t16", "t15"]);
    // An old trade re-fetched after eviction falls off the end again.
    t.add([trade("t0", 0)]);
    expect(t.trades.map((x) => x.trade_id)).toEqual(["t19", "t18", "t17", "t16", "t15"]);
  });
});

describe("mergeFills", () => {
  const f = (trade_id: string, order_id: string, ts: number): Fill => ({
    trade_id,
    order_id,
    market: "M",
    side: "buy",
    outcome: "yes",
    price: 50,
    qty: 1,
    fee: 0,
    liquidity: "taker",
    ts,
  });
  it("de-duplicates REST and live fills, newest first, capped", () => {
    const merged = mergeFills([f("t1", "o1", 1)], [f("t1", "o1", 1), f("t2", "o1", 2)]);
    expect(merged.map((x) => x.trade_id)).toEqual(["t2", "t1"]);
    expect(mergeFills([], [f("a", "o", 1), f("b", "o", 2), f("c", "o", 3)], 2).map((x) => x.trade_id)).toEqual(["c", "b"]);
  });
});
