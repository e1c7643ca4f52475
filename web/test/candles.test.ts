import { describe, expect, it } from "vitest";
import { CandleSeries, INTERVALS, bucketStart, candleInView } from "../src/candles";

const M = INTERVALS["1m"];

describe("CandleSeries", () => {
  it("loads history sorted and de-duplicated per bucket", () => {
    const s = new CandleSeries(M);
    s.load([
      { ts: 2 * M, open: 50, high: 52, low: 49, close: 51, volume: 3 },
      { ts: M, open: 40, high: 45, low: 40, close: 44, volume: 1 },
    ]);
    expect(s.candles.map((c) => c.ts)).toEqual([M, 2 * M]);
  });

  it("updates the last candle with a trade in its bucket", () => {
    const s = new CandleSeries(M);
    s.load([{ ts: M, open: 50, high: 52, low: 49, close: 51, volume: 3 }]);
    const ch = s.addTrade(55, 2, M + 30_000);
    expect(ch).toEqual({ kind: "updated", candle: { ts: M, open: 50, high: 55, low: 49, close: 55, volume: 5 } });
  });

  it("opens a new candle for a later bucket and ignores older trades", () => {
    const s = new CandleSeries(M);
    s.load([{ ts: 5 * M, open: 50, high: 50, low: 50, close: 50, volume: 1 }]);
    expect(s.addTrade(48, 1, 7 * M + 5).kind).toBe("appended");
    expect(s.candles.at(-1)).toEqual({ ts: 7 * M, open: 48, high: 48, low: 48, close: 48, volume: 1 });
    expect(s.addTrade(60, 1, 2 * M).kind).toBe("ignored");
  });

  it("is bounded", () => {
    const s = new CandleSeries(M, 10);
    for (let i = 0; i < 50; i++) s.addTrade(50, 1, i * M);
    expect(s.candles).toHaveLength(10);
    expect(s.candles[0]?.ts).toBe(40 * M);
  });

  it("NO view mirrors prices and swaps high and low", () => {
    expect(candleInView({ ts: 0, open: 40, high: 60, low: 30, close: 55, volume: 9 }, "no")).toEqual({
      ts: 0,
      open: 60,
      high: 70,
      low: 40,
      close: 45,
      volume: 9,
    });
    expect(bucketStart(M * 3 + 59_999, M)).toBe(3 * M);
  });
});
