// The user's open orders (cancel, reduce, cancel all) and fills.

import type { App } from "../app";
import { h, mount, msgBox, setMessage } from "../dom";
import { errorText } from "../errors";
import { formatCents, formatDateTime, formatQty, formatTime } from "../format";
import { parsePositiveInt } from "../orderMath";
import type { Fill, Order } from "../types";

export interface OrdersTable {
  el: HTMLElement;
  render(): void;
}

/**
 * Open orders of one market (or of all, for `market` null). Reduce sends
 * `{"op":"amend","order_id","qty"}` where qty is the new remaining quantity (reduce only,
 * keeps queue priority).
 */
export function createOpenOrders(app: App, market: string | null): OrdersTable {
  const body = h("tbody", null);
  const error = msgBox("open-orders-error");
  const cancelAll = h("button", { type: "button", class: "btn btn-ghost btn-sm", testid: "cancel-all" }, "Cancel all");
  const countEl = h("span", { class: "muted count", testid: "open-orders-count" });
  const el = h(
    "section",
    { class: "card panel", "aria-labelledby": "oo-title" },
    h("div", { class: "panel-head" }, h("h2", { id: "oo-title" }, "Open orders ", countEl), cancelAll),
    error,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "grid compact", testid: "open-orders" },
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            market === null ? h("th", { scope: "col" }, "Market") : null,
            h("th", { scope: "col" }, "Side"),
            h("th", { scope: "col", class: "num" }, "Price"),
            h("th", { scope: "col", class: "num" }, "Qty"),
            h("th", { scope: "col", class: "num" }, "Filled"),
            h("th", { scope: "col", class: "num" }, "Left"),
            h("th", { scope: "col", class: "hide-sm" }, "TIF"),
            h("th", { scope: "col", class: "hide-sm" }, "Placed"),
            h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
          ),
        ),
        body,
      ),
    ),
  );

  /** Order ids whose reduce editor is open, with the typed value kept across re-renders. */
  const editing = new Map<string, string>();

  const act = async (fn: () => Promise<unknown>, done?: string) => {
    setMessage(error, "");
    try {
      await fn();
      if (done) app.toast("ok", done);
    } catch (err) {
      setMessage(error, errorText(err));
    }
  };

  cancelAll.addEventListener("click", () =>
    void act(async () => {
      const reply = await app.ws.request(market === null ? { op: "cancel_all" } : { op: "cancel_all", market });
      const n = typeof reply["count"] === "number" ? reply["count"] : null;
      // The per-order updates come on `orders`; reload in case that channel lags.
      await reload(app, market);
      app.toast("ok", n === null ? "Orders cancelled." : `${n} order${n === 1 ? "" : "s"} cancelled.`);
    }),
  );

  const reduceEditor = (o: Order) => {
    const input = h("input", {
      type: "number",
      min: "1",
      max: String(Math.max(1, o.remaining_qty - 1)),
      step: "1",
      inputmode: "numeric",
      class: "input-sm",
      testid: `reduce-qty-${o.order_id}`,
      "aria-label": `New remaining quantity for order ${o.order_id} (less than ${o.remaining_qty})`,
      value: editing.get(o.order_id) ?? String(Math.max(1, o.remaining_qty - 1)),
    });
    input.addEventListener("input", () => editing.set(o.order_id, input.value));
    const confirm = h("button", { type: "button", class: "btn btn-sm btn-primary", testid: `reduce-confirm-${o.order_id}` }, "Reduce");
    const cancel = h("button", { type: "button", class: "btn btn-sm btn-ghost", testid: `reduce-cancel-${o.order_id}` }, "Back");
    const submitReduce = () => {
      const n = parsePositiveInt(input.value);
      if (n === null || n >= o.remaining_qty) {
        setMessage(error, `New remaining quantity must be a whole number from 1 to ${o.remaining_qty - 1}.`);
        input.focus();
        return;
      }
      void act(async () => {
        const reply = await app.ws.request({ op: "amend", order_id: o.order_id, qty: n });
        editing.delete(o.order_id);
        const order = reply["order"] as Order | undefined;
        if (order) app.upsertOrder(order);
        render();
      }, `Order reduced to ${n} remaining.`);
    };
    confirm.addEventListener("click", submitReduce);
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") submitReduce();
      if (e.key === "Escape") {
        editing.delete(o.order_id);
        render();
      }
    });
    cancel.addEventListener("click", () => {
      editing.delete(o.order_id);
      render();
    });
    queueMicrotask(() => {
      if (document.activeElement === document.body) input.focus();
    });
    return h("div", { class: "reduce" }, input, confirm, cancel);
  };

  const render = () => {
    const list = [...app.orders.value.values()]
      .filter((o) => market === null || o.market === market)
      .sort((a, b) => b.created_ts - a.created_ts);
    countEl.textContent = `(${list.length})`;
    cancelAll.disabled = list.length === 0;
    for (const id of editing.keys()) if (!app.orders.value.has(id)) editing.delete(id);
    const rows = list.map((o) => {
      const actions = editing.has(o.order_id)
        ? reduceEditor(o)
        : h(
            "div",
            { class: "actions" },
            h(
              "button",
              {
                type: "button",
                class: "btn btn-sm btn-ghost",
                testid: `reduce-order-${o.order_id}`,
                disabled: o.remaining_qty <= 1,
                "aria-label": `Reduce order ${o.side} ${o.outcome} ${o.price ?? ""}`,
                onclick: () => {
                  editing.set(o.order_id, String(Math.max(1, o.remaining_qty - 1)));
                  render();
                },
              },
              "Reduce",
            ),
            h(
              "button",
              {
                type: "button",
                class: "btn btn-sm btn-danger",
                testid: `cancel-order-${o.order_id}`,
                "aria-label": `Cancel order ${o.side} ${o.outcome} ${o.price ?? ""}`,
                onclick: () =>
                  void act(async () => {
                    const reply = await app.ws.request({ op: "cancel", order_id: o.order_id });
                    const order = reply["order"] as Order | undefined;
                    if (order) app.upsertOrder(order);
                  }, "Order cancelled."),
              },
              "Cancel",
            ),
          );
      return h(
        "tr",
        { testid: `open-order-${o.order_id}`, "data-status": o.status },
        market === null ? h("td", null, h("a", { href: `#/market/${encodeURIComponent(o.market)}` }, o.market)) : null,
        h("td", { class: o.side === "buy" ? "bid" : "ask" }, `${o.side} ${o.outcome.toUpperCase()}`),
        h("td", { class: "num" }, o.price == null ? "mkt" : `${o.price}¢`),
        h("td", { class: "num" }, formatQty(o.qty)),
        h("td", { class: "num" }, formatQty(o.filled_qty)),
        h("td", { class: "num", testid: `open-order-remaining-${o.order_id}` }, formatQty(o.remaining_qty)),
        h("td", { class: "hide-sm upper" }, o.tif),
        h("td", { class: "hide-sm muted" }, formatDateTime(o.created_ts)),
        h("td", null, actions),
      );
    });
    const cols = market === null ? 9 : 8;
    mount(body, rows.length ? rows : h("tr", null, h("td", { colspan: String(cols), class: "empty" }, "No open orders")));
  };

  return { el, render };
}

/** Load the open orders of a market (or all) into the app's store. */
export async function reload(app: App, market: string | null): Promise<void> {
  const q = market === null ? {} : { market };
  // Whether `status=open` also returns partially filled orders is not specified: ask for both.
  const [open, partial] = await Promise.all([
    app.api.orders({ ...q, status: "open" }),
    app.api.orders({ ...q, status: "partially_filled" }).catch(() => ({ orders: [] as Order[] })),
  ]);
  app.replaceOpenOrders(market, [...(open.orders ?? []), ...(partial.orders ?? [])]);
}

export const FILLS_CAP = 500;

export interface FillsTable {
  el: HTMLElement;
  render(fills: readonly Fill[]): void;
}

export function createFillsTable(): FillsTable {
  const body = h("tbody", null);
  const el = h(
    "section",
    { class: "card panel", "aria-labelledby": "fills-title" },
    h("h2", { id: "fills-title" }, "My fills"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "grid compact", testid: "fills-table" },
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("th", { scope: "col" }, "Time"),
            h("th", { scope: "col" }, "Side"),
            h("th", { scope: "col", class: "num" }, "Price"),
            h("th", { scope: "col", class: "num" }, "Qty"),
            h("th", { scope: "col", class: "num hide-sm" }, "Fee"),
            h("th", { scope: "col", class: "hide-sm" }, "Role"),
          ),
        ),
        body,
      ),
    ),
  );
  return {
    el,
    render(fills) {
      const rows = fills.slice(0, 100).map((f) =>
        h(
          "tr",
          { testid: `fill-row-${f.trade_id}` },
          h("td", { class: "muted" }, formatTime(f.ts)),
          h("td", { class: f.side === "buy" ? "bid" : "ask" }, `${f.side} ${f.outcome.toUpperCase()}`),
          h("td", { class: "num" }, `${f.price}¢`),
          h("td", { class: "num" }, formatQty(f.qty)),
          h("td", { class: "num hide-sm" }, formatCents(f.fee)),
          h("td", { class: "hide-sm muted" }, f.liquidity),
        ),
      );
      mount(body, rows.length ? rows : h("tr", null, h("td", { colspan: "6", class: "empty" }, "No fills yet")));
    },
  };
}

/** Newest-first, de-duplicated (trade id + order id), capped. */
export function mergeFills(current: readonly Fill[], incoming: readonly Fill[], cap = FILLS_CAP): Fill[] {
  const byKey = new Map<string, Fill>();
  for (const f of [...current, ...incoming]) byKey.set(`${f.trade_id}:${f.order_id}`, f);
  return [...byKey.values()].sort((a, b) => b.ts - a.ts || (a.trade_id < b.trade_id ? 1 : -1)).slice(0, cap);
}
