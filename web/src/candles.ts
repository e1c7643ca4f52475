// OHLCV candles: the history from GET /markets/{t}/candles, extended live by `trade`
// messages. Pure; bounded to `cap` candles.

import type { Candle, Outcome } from "./types";

export const INTERVALS = { "1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000 } as const;
export type Interval = keyof typeof INTERVALS;

export function bucketStart(ts: number, intervalMs: number): number {
  return Math.floor(ts / intervalMs) * intervalMs;
}

/** A YES candle seen from `view`: NO prices are 100 − YES, so high and low swap. */
export function candleInView(c: Candle, view: Outcome): Candle {
  if (view === "yes") return c;
  return { ts: c.ts, open: 100 - c.open, high: 100 - c.low, low: 100 - c.high, close: 100 - c.close, volume: c.volume };
}

export type CandleChange = { kind: "updated" | "appended"; candle: Candle } | { kind: "ignored" };

export class CandleSeries {
  private list: Candle[] = [];

  constructor(
    readonly intervalMs: number,
    readonly cap = 1_500,
  ) {}

  get candles(): readonly Candle[] {
    return this.list;
  }

  /** Replace with history: sorted by time, one candle per bucket (the later wins), capped. */
  load(candles: readonly Candle[]): void {
    const byTs = new Map<number, Candle>();
    for (const c of candles) byTs.set(bucketStart(c.ts, this.intervalMs), { ...c, ts: bucketStart(c.ts, this.intervalMs) });
    this.list = [...byTs.values()].sort((a, b) => a.ts - b.ts).slice(-this.cap);
  }

  /**
   * Fold one trade (YES cents) in. A trade in the last candle's bucket updates it; a later
   * one opens a new candle; an earlier one (history already covers it) is ignored.
   */
  addTrade(price: number, qty: number, ts: number): CandleChange {
    const t = bucketStart(ts, this.intervalMs);
    const last = this.list.at(-1);
    if (last && t < last.ts) return { kind: "ignored" };
    if (last && t === last.ts) {
      const candle = {
        ts: t,
        open: last.open,
        high: Math.max(last.high, price),
        low: Math.min(last.low, price),
        close: price,
        volume: last.volume + qty,
      };
      this.list[this.list.length - 1] = candle;
      return { kind: "updated", candle };
    }
    const candle = { ts: t, open: price, high: price, low: price, close: price, volume: qty };
    this.list.push(candle);
    if (this.list.length > this.cap) this.list.splice(0, this.list.length - this.cap);
    return { kind: "appended", candle };
  }
}
