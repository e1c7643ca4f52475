// The market list: search, status filter, live prices.

import type { App } from "../app";
import { h, mount, msgBox, setMessage, text } from "../dom";
import { errorText } from "../errors";
import { formatDateTime, formatPrice, formatQty, formatRelative } from "../format";
import { frameThrottle } from "../store";
import type { Market } from "../types";

const STATUS_ORDER: Record<string, number> = { open: 0, halted: 1, closed: 2, resolved: 3 };
/** Live `ticker:*` subscriptions are capped so a huge list cannot flood the socket. */
const MAX_TICKER_SUBS = 200;

export function statusBadge(m: Pick<Market, "status" | "result">, testid?: string): HTMLElement {
  const label = m.status === "resolved" && m.result ? `resolved · ${m.result.toUpperCase()}` : m.status;
  return h("span", { class: `badge badge-${m.status}`, testid }, label);
}

interface Row {
  tr: HTMLTableRowElement;
  status: HTMLElement;
  bid: HTMLElement;
  ask: HTMLElement;
  last: HTMLElement;
  volume: HTMLElement;
  vol24: HTMLElement;
  oi: HTMLElement;
  close: HTMLElement;
  prevLast: number | null;
}

export function marketsView(root: HTMLElement, app: App): () => void {
  const search = h("input", {
    type: "search",
    placeholder: "Search ticker or title",
    testid: "market-search",
    "aria-label": "Search markets",
    autocomplete: "off",
  });
  const statusSel = h(
    "select",
    { testid: "market-status-filter", "aria-label": "Filter by status" },
    h("option", { value: "" }, "All statuses"),
    h("option", { value: "open" }, "Open"),
    h("option", { value: "halted" }, "Halted"),
    h("option", { value: "closed" }, "Closed"),
    h("option", { value: "resolved" }, "Resolved"),
  );
  const count = h("span", { class: "muted count", testid: "market-count", "aria-live": "polite" });
  const error = msgBox("markets-error");
  const more = h("button", { type: "button", class: "btn btn-ghost", testid: "markets-more", hidden: true }, "Load more");
  const tbody = h("tbody", { testid: "market-rows" });
  const empty = h("div", { class: "empty", testid: "markets-empty", hidden: true });
  const table = h(
    "table",
    { class: "grid markets-table", testid: "markets-table" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, "Market"),
        h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col", class: "num" }, "Bid"),
        h("th", { scope: "col", class: "num" }, "Ask"),
        h("th", { scope: "col", class: "num" }, "Last"),
        h("th", { scope: "col", class: "num hide-sm" }, "Volume"),
        h("th", { scope: "col", class: "num hide-sm" }, "24h vol"),
        h("th", { scope: "col", class: "num hide-sm" }, "Open int."),
        h("th", { scope: "col", class: "hide-sm" }, "Closes"),
      ),
    ),
    tbody,
  );

  mount(
    root,
    h(
      "section",
      { class: "page markets-page", "aria-labelledby": "markets-title" },
      h(
        "div",
        { class: "page-head" },
        h("h1", { id: "markets-title" }, "Markets"),
        h("div", { class: "toolbar" }, search, statusSel, count),
      ),
      error,
      h("div", { class: "table-wrap card" }, table, empty),
      h("div", { class: "center" }, more),
    ),
  );

  const rows = new Map<string, Row>();
  let cursor: string | null = null;
  let subscribed: string[] = [];
  let disposed = false;

  const makeRow = (m: Market): Row => {
    const href = `#/market/${encodeURIComponent(m.ticker)}`;
    const cell = (cls = "num") => h("td", { class: cls });
    const r: Row = {
      tr: h("tr", { testid: `market-row-${m.ticker}`, class: "clickable" }),
      status: cell(""),
      bid: cell("num bid"),
      ask: cell("num ask"),
      last: cell(),
      volume: cell("num hide-sm"),
      vol24: cell("num hide-sm"),
      oi: cell("num hide-sm"),
      close: cell("hide-sm"),
      prevLast: m.last,
    };
    r.tr.append(
      h(
        "td",
        { class: "mkt" },
        h("a", { href, class: "ticker", testid: `market-link-${m.ticker}` }, m.ticker),
        h("div", { class: "title" }, m.title),
      ),
      r.status,
      r.bid,
      r.ask,
      r.last,
      r.volume,
      r.vol24,
      r.oi,
      r.close,
    );
    r.tr.addEventListener("click", (e) => {
      if ((e.target as HTMLElement).closest("a")) return;
      location.hash = href;
    });
    return r;
  };

  const updateRow = (r: Row, m: Market) => {
    mount(r.status, statusBadge(m));
    text(r.bid, formatPrice(m.best_bid));
    text(r.ask, formatPrice(m.best_ask));
    text(r.last, formatPrice(m.last));
    if (m.last !== null && r.prevLast !== null && m.last !== r.prevLast) {
      r.last.classList.remove("flash-up", "flash-down");
      void r.last.offsetWidth;
      r.last.classList.add(m.last > r.prevLast ? "flash-up" : "flash-down");
    }
    r.prevLast = m.last;
    text(r.volume, formatQty(m.volume));
    text(r.vol24, formatQty(m.volume_24h));
    text(r.oi, formatQty(m.open_interest));
    text(r.close, formatDateTime(m.close_ts));
    r.close.title = formatRelative(m.close_ts, Date.now());
  };

  const visible = (): Market[] => {
    const q = search.value.trim().toLowerCase();
    const status = statusSel.value;
    return [...app.markets.value.values()]
      .filter((m) => (!status || m.status === status) && (!q || m.ticker.toLowerCase().includes(q) || m.title.toLowerCase().includes(q)))
      .sort(
        (a, b) =>
          (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9) ||
          (a.close_ts ?? Number.MAX_SAFE_INTEGER) - (b.close_ts ?? Number.MAX_SAFE_INTEGER) ||
          a.ticker.localeCompare(b.ticker),
      );
  };

  const render = frameThrottle(() => {
    if (disposed) return;
    const list = visible();
    const ordered: HTMLTableRowElement[] = [];
    for (const m of list) {
      let r = rows.get(m.ticker);
      if (!r) {
        r = makeRow(m);
        rows.set(m.ticker, r);
      }
      updateRow(r, m);
      ordered.push(r.tr);
    }
    const current = [...tbody.children];
    if (current.length !== ordered.length || current.some((el, i) => el !== ordered[i])) tbody.replaceChildren(...ordered);
    text(count, `${list.length} market${list.length === 1 ? "" : "s"}`);
    empty.hidden = list.length > 0;
    empty.textContent = search.value ? "No market matches your search." : "No markets with this status.";
    syncTickers(list);
  });

  const syncTickers = (list: Market[]) => {
    const want = list
      .filter((m) => m.status === "open" || m.status === "halted")
      .slice(0, MAX_TICKER_SUBS)
      .map((m) => `ticker:${m.ticker}`);
    const wantSet = new Set(want);
    const have = new Set(subscribed);
    const add = want.filter((c) => !have.has(c));
    const drop = subscribed.filter((c) => !wantSet.has(c));
    if (drop.length) app.ws.unsubscribe(drop);
    if (add.length) app.ws.subscribe(add).catch(() => undefined);
    subscribed = want;
  };

  const load = async (append: boolean) => {
    setMessage(error, "");
    more.disabled = true;
    try {
      const res = await app.api.markets(statusSel.value || undefined, append ? cursor : null);
      if (disposed) return;
      app.mergeMarkets(res.markets ?? []);
      cursor = res.next_cursor ?? null;
      more.hidden = !cursor;
    } catch (err) {
      setMessage(error, `Could not load markets. ${errorText(err)}`);
    } finally {
      more.disabled = false;
    }
  };

  search.addEventListener("input", render);
  statusSel.addEventListener("change", () => {
    cursor = null;
    render();
    void load(false);
  });
  more.addEventListener("click", () => void load(true));

  const unwatch = app.markets.watch(render);
  const unready = app.ws.onReady(() => void load(false));
  void load(false);

  return () => {
    disposed = true;
    unwatch();
    unready();
    if (subscribed.length) app.ws.unsubscribe(subscribed);
  };
}
