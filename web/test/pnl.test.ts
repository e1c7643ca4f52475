import { describe, expect, it } from "vitest";
import { applyFill, averageCost, emptyPosition, positionFromFills, unrealized, yesMark } from "../src/pnl";
import type { Fill } from "../src/types";

let n = 0;
function fill(side: "buy" | "sell", outcome: "yes" | "no", price: number, qty: number, fee = 0): Fill {
  n += 1;
  return { trade_id: `t${n}`, order_id: `o${n}`, market: "M", side, outcome, price, qty, fee, liquidity: "taker", ts: n };
}

describe("position and P&L from fills", () => {
  it("buys accumulate cost basis", () => {
    const p = positionFromFills([fill("buy", "yes", 40, 10), fill("buy", "yes", 50, 10)]);
    expect(p).toMatchObject({ yes: 20, no: 0, yesCost: 900, realized: 0 });
    expect(averageCost(p, "yes")).toBe(45);
  });

  it("a sell realises proceeds minus average cost", () => {
    const p = positionFromFills([fill("buy", "yes", 40, 10), fill("sell", "yes", 55, 4)]);
    expect(p).toMatchObject({ yes: 6, yesCost: 240, realized: 4 * 15 });
  });

  it("buying the other outcome merges pairs at 100", () => {
    // 10 YES at 40, then 4 NO at 55: 4 pairs paid 100 each → 4 × (100 − 40 − 55) = 20.
    const p = positionFromFills([fill("buy", "yes", 40, 10), fill("buy", "no", 55, 4)]);
    expect(p).toMatchObject({ yes: 6, no: 0, yesCost: 240, noCost: 0, realized: 20 });
  });

  it("flips to the other side once the held side is used up", () => {
    const p = positionFromFills([fill("buy", "yes", 40, 2), fill("buy", "no", 70, 5)]);
    expect(p).toMatchObject({ yes: 0, no: 3, noCost: 210, realized: 2 * (100 - 40 - 70) });
  });

  it("subtracts fees from realised P&L", () => {
    const p = positionFromFills([fill("buy", "yes", 40, 10, 3)]);
    expect(p).toMatchObject({ realized: -3, fees: 3 });
  });

  it("folds fills in time order whatever order they arrive in", () => {
    const a = fill("buy", "yes", 40, 10);
    const b = fill("sell", "yes", 60, 10);
    expect(positionFromFills([b, a])).toEqual(positionFromFills([a, b]));
  });

  it("keeps cost basis in whole cents", () => {
    let p = applyFill(emptyPosition(), fill("buy", "yes", 33, 3));
    p = applyFill(p, fill("buy", "yes", 34, 3)); // 201 for 6
    p = applyFill(p, fill("sell", "yes", 50, 1));
    expect(Number.isInteger(p.yesCost)).toBe(true);
    expect(p.yes).toBe(5);
  });
});

describe("marks", () => {
  it("marks at the last price, or the resolution payout", () => {
    expect(yesMark(57, null)).toBe(57);
    expect(yesMark(57, "yes")).toBe(100);
    expect(yesMark(57, "no")).toBe(0);
    expect(yesMark(57, "void")).toBe(50);
    expect(yesMark(null, null)).toBeNull();
  });

  it("unrealised P&L of YES and NO holdings", () => {
    const yes = positionFromFills([fill("buy", "yes", 40, 10)]);
    expect(unrealized(yes, 55)).toBe(150);
    const no = positionFromFills([fill("buy", "no", 30, 10)]);
    expect(unrealized(no, 55)).toBe(10 * 45 - 300);
    expect(unrealized(no, null)).toBeNull();
    expect(unrealized(emptyPosition(), null)).toBe(0);
  });
});
