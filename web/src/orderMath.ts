// What an order costs, holds and can pay, before it is sent. Pure integer cents.
//
// DESIGN.md §1: "A buy order holds `price × qty` of its own outcome's price when accepted
// ... A sell order needs contracts the user holds (they are reserved, not cash)." A
// winning contract pays 100 cents. A market order is "IOC with a worst-price bound": the
// bound is its `price`, so its hold is the bound times the quantity.

import type { Level } from "./book";
import type { Outcome, Side } from "./types";

export const MIN_PRICE = 1;
export const MAX_PRICE = 99;
export const PAYOUT = 100;
export const MAX_QTY = 1_000_000;

export interface OrderDraft {
  side: Side;
  outcome: Outcome;
  type: "limit" | "market";
  /** Limit price, or the worst-price bound of a market order, in cents of `outcome`. */
  price: number | null;
  qty: number | null;
  /** The market's fee rate in basis points (0 when unknown). */
  feeBps?: number;
  /** Cash available, cents; null when not known (logged out). */
  available?: number | null;
  /** Contracts of `outcome` held in this market; null when not known. */
  held?: number | null;
}

export interface OrderPreview {
  /** Problems that make the order invalid; empty when it can be sent. */
  errors: string[];
  /** Advisories: the server will probably reject it, but the user may know better. */
  warnings: string[];
  /** Buy: the most it can cost (price × qty). Sell: 0. */
  cost: number;
  /** Cash held while the order rests: equal to `cost` for a buy, 0 for a sell. */
  hold: number;
  /** Buy: 100 × qty if the outcome wins. Sell: the proceeds, price × qty. */
  maxPayout: number;
  /** Buy: maxPayout − cost. Sell: 0. */
  maxProfit: number;
  /** Sell: price × qty (at least that for a limit). Buy: 0. */
  proceeds: number;
  /** Contracts that a sell reserves. */
  contracts: number;
  /** Upper bound of the fee at `feeBps` on the notional, rounded up. */
  maxFee: number;
}

/** A positive integer typed by a user, or null. Rejects "1.5", "1e3", "", "-2". */
export function parsePositiveInt(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

export function feeFor(notional: number, feeBps: number): number {
  if (feeBps <= 0 || notional <= 0) return 0;
  // Integer ceiling of notional × bps / 10 000.
  return Math.floor((notional * feeBps + 9_999) / 10_000);
}

export function previewOrder(d: OrderDraft): OrderPreview {
  const errors: string[] = [];
  const warnings: string[] = [];
  const priceOk =
    d.price !== null && Number.isInteger(d.price) && d.price >= MIN_PRICE && d.price <= MAX_PRICE;
  const qtyOk = d.qty !== null && Number.isInteger(d.qty) && d.qty >= 1 && d.qty <= MAX_QTY;
  if (!priceOk) {
    errors.push(
      d.type === "market"
        ? `Worst price must be a whole number of cents from ${MIN_PRICE} to ${MAX_PRICE}.`
        : `Price must be a whole number of cents from ${MIN_PRICE} to ${MAX_PRICE}.`,
    );
  }
  if (!qtyOk) errors.push(`Quantity must be a whole number of contracts from 1 to ${MAX_QTY.toLocaleString("en-US")}.`);

  const price = priceOk ? (d.price as number) : 0;
  const qty = qtyOk ? (d.qty as number) : 0;
  const notional = price * qty;
  const maxFee = feeFor(notional, d.feeBps ?? 0);

  if (d.side === "buy") {
    const cost = notional;
    if (d.available != null && qtyOk && priceOk && cost > d.available) {
      warnings.push("The hold is more than your available cash.");
    }
    return {
      errors,
      warnings,
      cost,
      hold: cost,
      maxPayout: PAYOUT * qty,
      maxProfit: PAYOUT * qty - cost,
      proceeds: 0,
      contracts: 0,
      maxFee,
    };
  }
  if (d.held != null && qtyOk && qty > d.held) {
    const other = d.outcome === "yes" ? "NO" : "YES";
    warnings.push(
      d.held === 0
        ? `You hold no ${d.outcome.toUpperCase()} contracts to sell. To bet against ${d.outcome.toUpperCase()}, buy ${other}.`
        : `You hold only ${d.held} ${d.outcome.toUpperCase()} contracts.`,
    );
  }
  return {
    errors,
    warnings,
    cost: 0,
    hold: 0,
    maxPayout: notional,
    maxProfit: 0,
    proceeds: notional,
    contracts: qty,
    maxFee,
  };
}

export interface FillEstimate {
  /** Contracts that the visible book would fill within the bound. */
  qty: number;
  /** Σ price × qty over the levels taken, cents. */
  notional: number;
  /** The last (worst) price reached, or null when nothing fills. */
  worstPrice: number | null;
}

/**
 * Walk the opposite side of the book (in the order's own outcome's view, best first) as a
 * taker of `qty` would, stopping at `bound`. A buy takes asks at ≤ bound, a sell takes bids
 * at ≥ bound. Fills happen at the resting order's price.
 */
export function estimateFill(opposite: readonly Level[], side: Side, qty: number, bound: number): FillEstimate {
  let left = qty;
  let notional = 0;
  let worstPrice: number | null = null;
  for (const [price, size] of opposite) {
    if (left <= 0) break;
    if (side === "buy" ? price > bound : price < bound) break;
    const take = Math.min(left, size);
    notional += take * price;
    left -= take;
    worstPrice = price;
  }
  return { qty: qty - left, notional, worstPrice };
}
