// The price chart (TradingView lightweight-charts): candles plus volume, in the current
// view's prices. Loaded lazily so the market list does not pay for it.

import type { IChartApi, ISeriesApi, Time, UTCTimestamp } from "lightweight-charts";
import { candleInView } from "../candles";
import type { Candle, Outcome } from "../types";

export interface PriceChart {
  setCandles(candles: readonly Candle[], view: Outcome): void;
  update(candle: Candle, view: Outcome): void;
  destroy(): void;
}

const UP = "#22c55e";
const DOWN = "#ef4444";

function pad(n: number): string {
  return n.toString().padStart(2, "0");
}

function localLabel(time: Time, withDate: boolean): string {
  const d = new Date((time as number) * 1000);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withDate ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}` : hm;
}

export async function createPriceChart(container: HTMLElement): Promise<PriceChart> {
  const lc = await import("lightweight-charts");
  const chart: IChartApi = lc.createChart(container, {
    autoSize: true,
    layout: {
      background: { type: lc.ColorType.Solid, color: "transparent" },
      textColor: "#8b95a5",
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 11,
    },
    grid: { vertLines: { color: "#1a212b" }, horzLines: { color: "#1a212b" } },
    rightPriceScale: { borderColor: "#232b36" },
    timeScale: {
      borderColor: "#232b36",
      timeVisible: true,
      secondsVisible: false,
      tickMarkFormatter: (time: Time, type: number) => {
        const d = new Date((time as number) * 1000);
        if (type === lc.TickMarkType.Year) return String(d.getFullYear());
        if (type === lc.TickMarkType.Month || type === lc.TickMarkType.DayOfMonth) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
        return localLabel(time, false);
      },
    },
    localization: {
      timeFormatter: (time: Time) => localLabel(time, true),
    },
    crosshair: { mode: lc.CrosshairMode.Normal },
  });
  const candles: ISeriesApi<"Candlestick"> = chart.addSeries(lc.CandlestickSeries, {
    upColor: UP,
    downColor: DOWN,
    wickUpColor: UP,
    wickDownColor: DOWN,
    borderVisible: false,
    priceFormat: { type: "price", precision: 0, minMove: 1 },
  });
  const volume: ISeriesApi<"Histogram"> = chart.addSeries(lc.HistogramSeries, {
    priceFormat: { type: "volume" },
    priceScaleId: "",
    lastValueVisible: false,
    priceLineVisible: false,
  });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });

  const bar = (c: Candle, view: Outcome) => {
    const v = candleInView(c, view);
    const time = Math.floor(v.ts / 1000) as UTCTimestamp;
    return {
      candle: { time, open: v.open, high: v.high, low: v.low, close: v.close },
      vol: { time, value: v.volume, color: v.close >= v.open ? "rgba(34,197,94,0.35)" : "rgba(239,68,68,0.35)" },
    };
  };

  return {
    setCandles(list, view) {
      const bars = list.map((c) => bar(c, view));
      candles.setData(bars.map((b) => b.candle));
      volume.setData(bars.map((b) => b.vol));
      chart.timeScale().fitContent();
    },
    update(c, view) {
      const b = bar(c, view);
      candles.update(b.candle);
      volume.update(b.vol);
    },
    destroy() {
      chart.remove();
    },
  };
}
