// One market: header and stats, YES/NO view, order-book ladder, price chart, trade tape,
// order entry, the user's open orders, fills and position.

import type { App } from "../app";
import { BookReplica, priceInView } from "../book";
import { CandleSeries, INTERVALS, type Interval } from "../candles";
import { h, mount, msgBox, setMessage, text } from "../dom";
import { LfgError, errorText } from "../errors";
import { formatDateTime, formatPrice, formatQty, formatRelative } from "../format";
import { frameThrottle } from "../store";
import type { BookDeltaMsg, BookSnapshotMsg, Fill, MarketMsg, Outcome, ServerMsg, TradeMsg } from "../types";
import type { PriceChart } from "./chart";
import { createLadder } from "./ladder";
import { statusBadge } from "./markets";
import { createOrderForm } from "./orderForm";
import { FILLS_CAP, createFillsTable, createOpenOrders, mergeFills, reload as reloadOrders } from "./orders";
import { createPositionPanel } from "./position";
import { TradeTape, renderTape } from "./tape";

/** Resubscribing a book after a gap at most this often. */
const RESYNC_MIN_MS = 2_000;
const CHART_CAP = 1_500;

export function marketView(root: HTMLElement, app: App, ticker: string): () => void {
  let disposed = false;
  let view: Outcome = "yes";
  let interval: Interval = "1h";
  const book = new BookReplica(ticker);
  const tape = new TradeTape();
  let series = new CandleSeries(INTERVALS[interval], CHART_CAP);
  let chart: PriceChart | null = null;
  let fills: Fill[] = [];
  let fillsComplete = true;
  const market = () => app.markets.value.get(ticker);
  const channels = [`book:${ticker}`, `trades:${ticker}`, `ticker:${ticker}`];
  const cleanups: Array<() => void> = [];

  // ---- header ------------------------------------------------------------------------
  const titleEl = h("h1", { class: "market-title", testid: "market-title" });
  const statusEl = h("span", { testid: "market-status" });
  const stat = (label: string, testid: string) => {
    const v = h("span", { class: "stat-value num", testid });
    return { el: h("div", { class: "stat" }, h("span", { class: "stat-label" }, label), v), v };
  };
  const sLast = stat("Last", "market-last");
  const sBid = stat("Bid", "market-bid");
  const sAsk = stat("Ask", "market-ask");
  const sVol = stat("Volume", "market-volume");
  const sOi = stat("Open int.", "market-oi");
  const sClose = stat("Closes", "market-close");
  const viewYes = h("button", { type: "button", class: "seg", testid: "view-yes", "aria-pressed": "true" }, "YES");
  const viewNo = h("button", { type: "button", class: "seg", testid: "view-no", "aria-pressed": "false" }, "NO");
  const rules = h("p", { class: "rules-text" });
  const banner = h("div", { class: "banner", testid: "market-banner", role: "status" });
  banner.hidden = true;
  const pageError = msgBox("market-error");

  // ---- widgets -----------------------------------------------------------------------
  const ladder = createLadder((price) => form.pick(price, view));
  const form = createOrderForm(app, ticker, market, () => book);
  const openOrders = createOpenOrders(app, ticker);
  const fillsTable = createFillsTable();
  const position = createPositionPanel();
  const tapeBody = h("tbody", null);
  const chartBox = h("div", { class: "chart", testid: "price-chart", role: "img", "aria-label": "Price chart" });
  const chartEmpty = h("div", { class: "chart-empty muted", testid: "chart-empty" }, "No trades in this range yet");
  chartEmpty.hidden = true;
  const intervalButtons = (Object.keys(INTERVALS) as Interval[]).map((iv) =>
    h(
      "button",
      { type: "button", class: "seg seg-sm", testid: `chart-interval-${iv}`, "aria-pressed": String(iv === interval), onclick: () => setInterval_(iv) },
      iv,
    ),
  );

  mount(
    root,
    h(
      "section",
      { class: "page market-page", "aria-labelledby": "mkt-title-wrap" },
      h("a", { href: "#/markets", class: "back muted" }, "← Markets"),
      pageError,
      h(
        "div",
        { class: "market-head card", id: "mkt-title-wrap" },
        h("div", { class: "market-id" }, h("span", { class: "ticker" }, ticker), statusEl),
        titleEl,
        h("div", { class: "stats" }, sLast.el, sBid.el, sAsk.el, sVol.el, sOi.el, sClose.el),
        h("div", { class: "segs", role: "group", "aria-label": "Price view" }, h("span", { class: "muted" }, "View"), viewYes, viewNo),
        h("details", { class: "rules", testid: "market-rules" }, h("summary", null, "Rules"), rules),
      ),
      banner,
      h(
        "div",
        { class: "market-grid" },
        h("section", { class: "card panel area-book", "aria-labelledby": "book-title" }, h("h2", { id: "book-title" }, "Order book"), ladder.el),
        h(
          "div",
          { class: "area-center" },
          h(
            "section",
            { class: "card panel area-chart", "aria-labelledby": "chart-title" },
            h("div", { class: "panel-head" }, h("h2", { id: "chart-title" }, "Price"), h("div", { class: "segs", role: "group", "aria-label": "Candle interval" }, intervalButtons)),
            h("div", { class: "chart-wrap" }, chartBox, chartEmpty),
          ),
          h(
            "section",
            { class: "card panel area-tape", "aria-labelledby": "tape-title" },
            h("h2", { id: "tape-title" }, "Trades"),
            h(
              "div",
              { class: "table-wrap tape-wrap" },
              h(
                "table",
                { class: "grid compact tape", testid: "trade-tape" },
                h("thead", null, h("tr", null, h("th", { scope: "col" }, "Time"), h("th", { scope: "col", class: "num" }, "Price"), h("th", { scope: "col", class: "num" }, "Qty"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Direction")))),
                tapeBody,
              ),
            ),
          ),
        ),
        h("div", { class: "area-trade" }, form.el, position.el),
        h("div", { class: "area-mine" }, openOrders.el, fillsTable.el),
      ),
    ),
  );

  // ---- rendering ---------------------------------------------------------------------
  const live = () => app.ws.state.state === "live" || app.ws.state.state === "stale";

  const renderHeader = () => {
    const m = market();
    if (!m) return;
    text(titleEl, m.title);
    document.title = `${m.ticker} · LFG`;
    mount(statusEl, statusBadge(m));
    const inView = (p: number | null) => (p === null ? null : priceInView(p, view));
    text(sLast.v, formatPrice(inView(m.last)));
    text(sBid.v, formatPrice(view === "yes" ? m.best_bid : inView(m.best_ask)));
    text(sAsk.v, formatPrice(view === "yes" ? m.best_ask : inView(m.best_bid)));
    text(sVol.v, formatQty(m.volume));
    text(sOi.v, formatQty(m.open_interest));
    text(sClose.v, formatDateTime(m.close_ts));
    sClose.v.title = formatRelative(m.close_ts, Date.now());
    text(rules, m.rules || "No rules given.");
    const msg =
      m.status === "halted"
        ? "Trading is halted. New orders are rejected until the market reopens."
        : m.status === "closed"
          ? "This market is closed to trading and awaits resolution."
          : m.status === "resolved"
            ? `Resolved ${(m.result ?? "").toUpperCase()}. ${m.result === "void" ? "Each contract paid 50¢." : "Winning contracts paid $1.00."}`
            : "";
    banner.textContent = msg;
    banner.hidden = !msg;
    banner.className = `banner banner-${m.status}`;
  };

  const renderBook = frameThrottle(() => {
    if (disposed) return;
    ladder.render(book, view, live());
    form.refresh();
  });
  const renderTapeNow = frameThrottle(() => {
    if (!disposed) renderTape(tapeBody, tape, view);
  });
  const renderMine = frameThrottle(() => {
    if (disposed) return;
    openOrders.render();
    fillsTable.render(fills);
    const acct = app.account.value;
    const pos = acct ? (acct.positions.find((p) => p.market === ticker) ?? { market: ticker, yes: 0, no: 0 }) : null;
    position.render(pos, fills, market(), fillsComplete);
    form.refresh();
  });
  const renderChart = () => {
    chartEmpty.hidden = series.candles.length > 0;
    chart?.setCandles(series.candles, view);
  };

  const setView = (v: Outcome) => {
    view = v;
    viewYes.setAttribute("aria-pressed", String(v === "yes"));
    viewNo.setAttribute("aria-pressed", String(v === "no"));
    renderHeader();
    // Synchronously, so the ladder shows the new view's prices as soon as the toggle is pressed.
    ladder.render(book, view, live());
    form.refresh();
    renderTapeNow();
    renderChart();
  };
  viewYes.addEventListener("click", () => setView("yes"));
  viewNo.addEventListener("click", () => setView("no"));

  // ---- data --------------------------------------------------------------------------
  const loadCandles = async () => {
    const iv = interval;
    try {
      const res = await app.api.candles(ticker, iv);
      if (disposed || iv !== interval) return;
      series.load(res.candles ?? []);
      renderChart();
    } catch (err) {
      if (!disposed) app.toast("error", `Chart: ${errorText(err)}`);
    }
  };
  function setInterval_(iv: Interval) {
    interval = iv;
    for (const b of intervalButtons) b.setAttribute("aria-pressed", String(b.textContent === iv));
    series = new CandleSeries(INTERVALS[iv], CHART_CAP);
    renderChart();
    void loadCandles();
  }

  const loadTrades = async () => {
    try {
      const res = await app.api.trades(ticker, 100);
      if (!disposed && tape.add(res.trades ?? [])) renderTapeNow();
    } catch {
      // The live feed still fills the tape.
    }
  };

  const loadMine = async () => {
    if (!app.session.loggedIn) {
      fills = [];
      renderMine();
      return;
    }
    try {
      const [res] = await Promise.all([app.api.fills(ticker, FILLS_CAP), reloadOrders(app, ticker)]);
      if (disposed) return;
      const list = (res.fills ?? []).filter((f) => f.market === undefined || f.market === ticker);
      fillsComplete = !res.next_cursor && list.length < FILLS_CAP;
      fills = mergeFills(fills, list);
      renderMine();
    } catch (err) {
      if (!disposed && !(err instanceof LfgError && err.status === 401)) app.toast("error", errorText(err));
    }
  };

  let lastResync = 0;
  let resyncTimer: ReturnType<typeof setTimeout> | null = null;
  const resync = () => {
    if (resyncTimer) return;
    const wait = Math.max(0, lastResync + RESYNC_MIN_MS - Date.now());
    resyncTimer = setTimeout(() => {
      resyncTimer = null;
      if (disposed) return;
      lastResync = Date.now();
      app.ws.resubscribe([`book:${ticker}`]).catch(() => undefined);
      void loadTrades();
    }, wait);
  };

  const onMessage = (msg: ServerMsg) => {
    switch (msg.type) {
      case "book_snapshot": {
        const m = msg as unknown as BookSnapshotMsg;
        if (m.market !== ticker) return;
        book.snapshot(m);
        renderBook();
        return;
      }
      case "book_delta": {
        const m = msg as unknown as BookDeltaMsg;
        if (m.market !== ticker) return;
        if (book.delta(m) === "gap") resync();
        renderBook();
        return;
      }
      case "trade": {
        const m = msg as unknown as TradeMsg;
        if (m.market !== ticker) return;
        if (book.observe(m.seq) === "gap") {
          resync();
          renderBook();
        }
        if (tape.add([m])) {
          renderTapeNow();
          const change = series.addTrade(m.price, m.qty, m.ts);
          if (change.kind !== "ignored") {
            chartEmpty.hidden = true;
            chart?.update(change.candle, view);
          }
        }
        return;
      }
      case "market": {
        const m = msg as unknown as MarketMsg;
        if (m.market !== ticker) return;
        if (book.observe(m.seq) === "gap") {
          resync();
          renderBook();
        }
        return;
      }
      case "fill": {
        const f = msg["fill"] as Fill | undefined;
        if (!f || f.market !== ticker) return;
        fills = mergeFills(fills, [f]);
        renderMine();
        return;
      }
    }
  };

  cleanups.push(app.ws.onMessage(onMessage));
  cleanups.push(
    app.ws.onStatus((s) => {
      if (s.state === "reconnecting" || s.state === "connecting" || s.state === "stopped") book.reset();
      renderBook();
    }),
  );
  cleanups.push(
    app.ws.onReady(() => {
      void loadTrades();
      void loadCandles();
      void loadMine();
      app.api.market(ticker).then((m) => app.mergeMarkets([m]), () => undefined);
    }),
  );
  cleanups.push(app.markets.watch(() => {
    renderHeader();
    renderMine();
  }));
  cleanups.push(app.orders.watch(() => renderMine()));
  cleanups.push(app.account.watch(() => renderMine()));
  cleanups.push(app.session.onChange(() => void loadMine()));

  let subscribed = false;
  const start = async () => {
    try {
      app.mergeMarkets([await app.api.market(ticker)]);
    } catch (err) {
      if (disposed) return;
      if (err instanceof LfgError && err.code === "not_found") {
        mount(root, h("section", { class: "page" }, h("div", { class: "card empty", testid: "market-not-found" }, `No market “${ticker}”. `, h("a", { href: "#/markets" }, "Back to markets"))));
        disposed = true;
        return;
      }
      setMessage(pageError, `Could not load the market. ${errorText(err)}`);
    }
    if (disposed) return;
    subscribed = true;
    app.ws.subscribe(channels).catch((err: unknown) => setMessage(pageError, errorText(err)));
    void loadTrades();
    void loadCandles();
    void loadMine();
    import("./chart")
      .then(({ createPriceChart }) => createPriceChart(chartBox))
      .then((c) => {
        if (disposed) return c.destroy();
        chart = c;
        renderChart();
      })
      .catch((err: unknown) => app.toast("error", `Chart unavailable: ${errorText(err)}`));
  };
  renderHeader();
  renderBook();
  renderTapeNow();
  renderMine();
  void start();

  return () => {
    disposed = true;
    if (resyncTimer) clearTimeout(resyncTimer);
    for (const c of cleanups) c();
    if (subscribed) app.ws.unsubscribe(channels);
    chart?.destroy();
    document.title = "LFG";
  };
}
