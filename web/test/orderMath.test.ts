import { describe, expect, it } from "vitest";
import { estimateFill, feeFor, parsePositiveInt, previewOrder } from "../src/orderMath";

describe("previewOrder: buy", () => {
  it("holds price × qty and pays 100 × qty", () => {
    const p = previewOrder({ side: "buy", outcome: "yes", type: "limit", price: 55, qty: 10 });
    expect(p.errors).toEqual([]);
    expect(p.cost).toBe(550);
    expect(p.hold).toBe(550);
    expect(p.maxPayout).toBe(1000);
    expect(p.maxProfit).toBe(450);
    expect(p.proceeds).toBe(0);
  });

  it("uses the NO price for a NO buy", () => {
    const p = previewOrder({ side: "buy", outcome: "no", type: "limit", price: 45, qty: 3 });
    expect(p.hold).toBe(135);
    expect(p.maxPayout).toBe(300);
  });

  it("holds the worst-price bound for a market order", () => {
    const p = previewOrder({ side: "buy", outcome: "yes", type: "market", price: 99, qty: 5 });
    expect(p.hold).toBe(495);
  });

  it("warns when the hold exceeds available cash", () => {
    const p = previewOrder({ side: "buy", outcome: "yes", type: "limit", price: 50, qty: 10, available: 499 });
    expect(p.errors).toEqual([]);
    expect(p.warnings).toHaveLength(1);
    expect(previewOrder({ side: "buy", outcome: "yes", type: "limit", price: 50, qty: 10, available: 500 }).warnings).toEqual([]);
  });
});

describe("previewOrder: sell", () => {
  it("needs contracts, holds no cash, proceeds price × qty", () => {
    const p = previewOrder({ side: "sell", outcome: "yes", type: "limit", price: 60, qty: 4, held: 10 });
    expect(p.hold).toBe(0);
    expect(p.cost).toBe(0);
    expect(p.proceeds).toBe(240);
    expect(p.contracts).toBe(4);
    expect(p.warnings).toEqual([]);
  });

  it("warns when selling more than held, suggesting the other outcome", () => {
    const none = previewOrder({ side: "sell", outcome: "yes", type: "limit", price: 60, qty: 4, held: 0 });
    expect(none.warnings[0]).toMatch(/buy NO/);
    const some = previewOrder({ side: "sell", outcome: "no", type: "limit", price: 60, qty: 4, held: 2 });
    expect(some.warnings[0]).toMatch(/only 2 NO/);
  });
});

describe("previewOrder: validation", () => {
  it.each([
    [0, 1],
    [100, 1],
    [null, 1],
    [50.5, 1],
    [50, 0],
    [50, null],
    [50, 2.5],
  ])("rejects price %s qty %s", (price, qty) => {
    const p = previewOrder({ side: "buy", outcome: "yes", type: "limit", price, qty });
    expect(p.errors.length).toBeGreaterThan(0);
  });

  it("accepts the edges 1 and 99", () => {
    expect(previewOrder({ side: "buy", outcome: "yes", type: "limit", price: 1, qty: 1 }).errors).toEqual([]);
    expect(previewOrder({ side: "buy", outcome: "yes", type: "limit", price: 99, qty: 1 }).errors).toEqual([]);
  });
});

describe("fees", () => {
  it("rounds the fee up to a whole cent", () => {
    expect(feeFor(550, 0)).toBe(0);
    expect(feeFor(550, 100)).toBe(6); // 5.5 → 6
    expect(feeFor(10000, 100)).toBe(100);
    expect(previewOrder({ side: "buy", outcome: "yes", type: "limit", price: 55, qty: 10, feeBps: 100 }).maxFee).toBe(6);
  });
});

describe("parsePositiveInt", () => {
  it("accepts plain positive integers only", () => {
    expect(parsePositiveInt("10")).toBe(10);
    expect(parsePositiveInt(" 7 ")).toBe(7);
    for (const bad of ["", "0", "-1", "1.5", "1e3", "abc", "99999999999999999999"]) expect(parsePositiveInt(bad)).toBeNull();
  });
});

describe("estimateFill", () => {
  const asks = [
    [56, 5],
    [57, 10],
    [60, 100],
  ] as const;

  it("walks the book within the bound at resting prices", () => {
    expect(estimateFill(asks, "buy", 8, 99)).toEqual({ qty: 8, notional: 5 * 56 + 3 * 57, worstPrice: 57 });
  });

  it("stops at the bound", () => {
    expect(estimateFill(asks, "buy", 50, 57)).toEqual({ qty: 15, notional: 5 * 56 + 10 * 57, worstPrice: 57 });
  });

  it("sells into bids at or above the bound", () => {
    const bids = [
      [55, 2],
      [50, 10],
    ] as const;
    expect(estimateFill(bids, "sell", 5, 52)).toEqual({ qty: 2, notional: 110, worstPrice: 55 });
    expect(estimateFill(bids, "sell", 5, 1)).toEqual({ qty: 5, notional: 110 + 150, worstPrice: 50 });
  });

  it("fills nothing on an empty book", () => {
    expect(estimateFill([], "buy", 5, 99)).toEqual({ qty: 0, notional: 0, worstPrice: null });
  });
});
