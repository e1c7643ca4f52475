// A user's position and P&L in one market, rebuilt from their fills. Integer cents.
//
// DESIGN.md §1: "A user never holds YES and NO of one market at once: complete pairs are
// merged at once and paid 100 each from escrow (netting)." So buying NO while holding YES
// first closes YES contracts at 100 per pair, which realises
// pair_count × (100 − cost of the YES − price paid for the NO).
// Cost basis is the average cost of what is held.

import type { Fill, MarketResult, Outcome } from "./types";

export interface PositionPnl {
  yes: number;
  no: number;
  /** Total cost basis of the YES held, cents. */
  yesCost: number;
  /** Total cost basis of the NO held, cents. */
  noCost: number;
  /** Realised P&L, cents, net of fees. */
  realized: number;
  fees: number;
}

export function emptyPosition(): PositionPnl {
  return { yes: 0, no: 0, yesCost: 0, noCost: 0, realized: 0, fees: 0 };
}

function other(o: Outcome): Outcome {
  return o === "yes" ? "no" : "yes";
}

/** Remove `n` of `held` contracts carrying total cost `cost`: the cost of the part removed. */
function costOf(n: number, held: number, cost: number): number {
  if (n >= held) return cost;
  return Math.round((cost * n) / held);
}

/** Apply one fill; returns a new position. */
export function applyFill(pos: PositionPnl, fill: Pick<Fill, "side" | "outcome" | "price" | "qty" | "fee">): PositionPnl {
  const p = { ...pos };
  const qtyKey = fill.outcome;
  const costKey = fill.outcome === "yes" ? "yesCost" : "noCost";
  p.fees += fill.fee;
  p.realized -= fill.fee;
  if (fill.side === "buy") {
    const opp = other(fill.outcome);
    const oppCostKey = opp === "yes" ? "yesCost" : "noCost";
    const merged = Math.min(fill.qty, p[opp]);
    if (merged > 0) {
      const removed = costOf(merged, p[opp], p[oppCostKey]);
      p.realized += merged * 100 - removed - merged * fill.price;
      p[opp] -= merged;
      p[oppCostKey] -= removed;
    }
    const rest = fill.qty - merged;
    p[qtyKey] += rest;
    p[costKey] += rest * fill.price;
  } else {
    const sold = Math.min(fill.qty, p[qtyKey]);
    const removed = costOf(sold, p[qtyKey], p[costKey]);
    // A sell beyond what the fills explain (history cut short) realises only its proceeds.
    p.realized += fill.qty * fill.price - removed;
    p[qtyKey] -= sold;
    p[costKey] -= removed;
  }
  return p;
}

/** Fills in execution order (ts, then trade id) folded into a position. */
export function positionFromFills(fills: readonly Fill[]): PositionPnl {
  const sorted = [...fills].sort((a, b) => a.ts - b.ts || (a.trade_id < b.trade_id ? -1 : a.trade_id > b.trade_id ? 1 : 0));
  return sorted.reduce(applyFill, emptyPosition());
}

/** YES mark price: the resolution payout when resolved, else the last trade (or null). */
export function yesMark(last: number | null, result: MarketResult | null | undefined): number | null {
  if (result === "yes") return 100;
  if (result === "no") return 0;
  if (result === "void") return 50;
  return last;
}

/** Unrealised P&L at a YES mark, cents; null without a mark. */
export function unrealized(pos: PositionPnl, markYes: number | null): number | null {
  if (markYes === null) return pos.yes === 0 && pos.no === 0 ? 0 : null;
  return pos.yes * markYes - pos.yesCost + pos.no * (100 - markYes) - pos.noCost;
}

/** Average cost per contract of the side held, as a display number (may be fractional). */
export function averageCost(pos: PositionPnl, outcome: Outcome): number | null {
  const qty = pos[outcome];
  if (qty === 0) return null;
  return (outcome === "yes" ? pos.yesCost : pos.noCost) / qty;
}
