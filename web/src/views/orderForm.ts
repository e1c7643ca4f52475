// Order entry: buy/sell × YES/NO, limit or market, quantity, price, time in force
// (GTC, GTD with expiry, IOC, FOK), post-only. Shows cost, hold and payout before sending;
// places over the WebSocket `place` op.

import type { App } from "../app";
import type { BookReplica } from "../book";
import { field, h, mount, msgBox, setMessage } from "../dom";
import { errorText } from "../errors";
import { formatCents, fromDateTimeLocal, toDateTimeLocal } from "../format";
import { estimateFill, parsePositiveInt, previewOrder, type OrderDraft } from "../orderMath";
import { maxFeeBps, type Market, type Order, type Outcome, type Side, type Tif } from "../types";

export interface OrderForm {
  el: HTMLElement;
  /** A ladder click: use this price (in `outcome`'s cents). */
  pick(price: number, outcome: Outcome): void;
  /** Book, balances or market changed: recompute the preview. */
  refresh(): void;
}

const TIF_HINTS: Record<Tif, string> = {
  gtc: "Good till cancelled",
  gtd: "Good till the expiry time",
  ioc: "Fill what you can now, cancel the rest",
  fok: "Fill all now or nothing",
};

let orderSeq = 0;
const sessionTag = Math.random().toString(36).slice(2, 8);

/** A unique `client_order_id`: makes a retried place idempotent server-side. */
export function newClientOrderId(): string {
  orderSeq += 1;
  return `web-${sessionTag}-${Date.now().toString(36)}-${orderSeq}`;
}

function select(testid: string, options: Array<[string, string]>, label: string): HTMLSelectElement {
  return h(
    "select",
    { testid, name: testid, "aria-label": label },
    options.map(([value, text]) => h("option", { value }, text)),
  );
}

function describeOrder(o: Order): string {
  const at = o.type === "market" ? ` at market${o.price != null ? ` (worst ${o.price}¢)` : ""}` : o.price != null ? ` @ ${o.price}¢` : "";
  const what = `${o.side} ${o.qty} ${o.outcome.toUpperCase()}${at}`;
  const filled = o.filled_qty > 0 ? `, filled ${o.filled_qty}${o.avg_price != null ? ` @ avg ${o.avg_price}¢` : ""}` : "";
  return `Order ${o.status.replace("_", " ")}: ${what}${filled}.`;
}

export function createOrderForm(app: App, ticker: string, getMarket: () => Market | undefined, getBook: () => BookReplica): OrderForm {
  const side = select("order-side", [["buy", "Buy"], ["sell", "Sell"]], "Side");
  const outcome = select("order-outcome", [["yes", "YES"], ["no", "NO"]], "Outcome");
  const type = select("order-type", [["limit", "Limit"], ["market", "Market"]], "Order type");
  const price = h("input", {
    type: "number",
    inputmode: "numeric",
    min: "1",
    max: "99",
    step: "1",
    testid: "order-price",
    name: "price",
    placeholder: "1–99",
    autocomplete: "off",
  });
  const qty = h("input", {
    type: "number",
    inputmode: "numeric",
    min: "1",
    step: "1",
    testid: "order-qty",
    name: "qty",
    value: "10",
    autocomplete: "off",
  });
  const tif = select(
    "order-tif",
    [
      ["gtc", "GTC"],
      ["gtd", "GTD"],
      ["ioc", "IOC"],
      ["fok", "FOK"],
    ],
    "Time in force",
  );
  const expires = h("input", { type: "datetime-local", testid: "order-expires", name: "expires_at" });
  const postOnly = h("input", { type: "checkbox", testid: "order-post-only", name: "post_only", id: "order-post-only" });
  const cost = h("dl", { class: "summary", testid: "order-cost", "aria-live": "polite" });
  const warning = h("div", { class: "msg msg-warn", testid: "order-warning", role: "status" });
  warning.hidden = true;
  const error = msgBox("order-error");
  const result = msgBox("order-result", "status");
  const submit = h("button", { type: "submit", class: "btn btn-block btn-buy", testid: "order-submit" }, "Buy YES");
  const quickYes = h("button", { type: "button", class: "quick quick-yes", testid: "quick-buy-yes" });
  const quickNo = h("button", { type: "button", class: "quick quick-no", testid: "quick-buy-no" });

  const priceField = field("Limit price (¢)", price);
  const priceLabel = priceField.querySelector("label") as HTMLLabelElement;
  const expiresField = field("Expires at", expires, "Local time; the order is cancelled then.");
  const tifHint = h("span", { testid: "order-tif-hint" });
  const tifField = field("Time in force", tif, tifHint);
  const postOnlyField = h(
    "div",
    { class: "field check" },
    postOnly,
    h("label", { for: "order-post-only" }, "Post-only"),
    h("span", { class: "hint" }, "Rejected instead of taking liquidity."),
  );

  const signedOut = h(
    "div",
    { class: "signed-out", testid: "order-login" },
    h("p", null, "Log in to trade this market."),
    h("a", { class: "btn btn-primary", href: "#/login" }, "Log in"),
    " ",
    h("a", { class: "btn btn-ghost", href: "#/register" }, "Sign up"),
  );

  const form = h(
    "form",
    { class: "order-form", testid: "order-form", "aria-label": "Place an order", novalidate: true },
    h("div", { class: "quicks" }, quickYes, quickNo),
    h("div", { class: "row2" }, field("Side", side), field("Outcome", outcome)),
    h("div", { class: "row2" }, field("Type", type), tifField),
    h("div", { class: "row2" }, priceField, field("Quantity", qty, "Contracts")),
    expiresField,
    postOnlyField,
    cost,
    warning,
    error,
    submit,
    result,
  );
  const el = h("section", { class: "card panel", "aria-labelledby": "order-title" }, h("h2", { id: "order-title" }, "Trade"), form, signedOut);

  const held = (o: Outcome): number | null => {
    const acct = app.account.value;
    if (!acct) return null;
    const pos = acct.positions.find((p) => p.market === ticker);
    return pos ? pos[o] : 0;
  };

  const draft = (): OrderDraft => ({
    side: side.value as Side,
    outcome: outcome.value as Outcome,
    type: type.value as "limit" | "market",
    price: parsePositiveInt(price.value),
    qty: parsePositiveInt(qty.value),
    feeBps: maxFeeBps(getMarket()),
    available: app.account.value?.available ?? null,
    held: held(outcome.value as Outcome),
  });

  /** Best price to buy `o` now: the lowest ask in `o`'s view. */
  const bestAsk = (o: Outcome): number | null => getBook().levels(o).asks[0]?.[0] ?? null;

  const syncControls = () => {
    const isMarket = type.value === "market";
    priceLabel.textContent = isMarket ? "Worst price (¢)" : "Limit price (¢)";
    for (const opt of tif.options) opt.disabled = isMarket && (opt.value === "gtc" || opt.value === "gtd");
    if (isMarket && (tif.value === "gtc" || tif.value === "gtd")) tif.value = "ioc";
    expiresField.hidden = tif.value !== "gtd";
    tifHint.textContent = TIF_HINTS[tif.value as Tif];
    const canPost = !isMarket && (tif.value === "gtc" || tif.value === "gtd");
    postOnly.disabled = !canPost;
    if (!canPost) postOnly.checked = false;
    postOnlyField.classList.toggle("disabled", !canPost);
    if (tif.value === "gtd" && !expires.value) expires.value = toDateTimeLocal(Date.now() + 3_600_000);
  };

  const row = (label: string, value: string, testid?: string, cls = "") =>
    [h("dt", null, label), h("dd", { class: `num ${cls}`, testid }, value)];

  const refresh = () => {
    const loggedIn = app.session.loggedIn;
    form.hidden = !loggedIn;
    signedOut.hidden = loggedIn;
    const ya = bestAsk("yes");
    const na = bestAsk("no");
    quickYes.textContent = `Buy YES ${ya === null ? "—" : `${ya}¢`}`;
    quickNo.textContent = `Buy NO ${na === null ? "—" : `${na}¢`}`;
    quickYes.disabled = ya === null;
    quickNo.disabled = na === null;

    const d = draft();
    const p = previewOrder(d);
    const sideLabel = `${d.side === "buy" ? "Buy" : "Sell"} ${d.outcome.toUpperCase()}`;
    submit.textContent = d.qty && d.price ? `${sideLabel} · ${d.qty} @ ${d.type === "market" ? "mkt" : `${d.price}¢`}` : sideLabel;
    submit.className = `btn btn-block ${d.side === "buy" ? "btn-buy" : "btn-sell"}`;

    const rows: HTMLElement[][] = [];
    if (d.type === "market" && d.qty && d.price) {
      const levels = getBook().levels(d.outcome);
      const est = estimateFill(d.side === "buy" ? levels.asks : levels.bids, d.side, d.qty, d.price);
      rows.push(
        row(
          "Est. fill now",
          est.qty > 0 ? `${est.qty} @ avg ${(est.notional / est.qty).toFixed(1)}¢ = ${formatCents(est.notional)}` : "nothing at this bound",
          "order-estimate",
        ),
      );
    }
    if (d.side === "buy") {
      rows.push(row(d.type === "market" ? "Max cost" : "Cost", formatCents(p.cost), "order-cost-value"));
      rows.push(row("Hold", formatCents(p.hold), "order-hold"));
      rows.push(row("Max payout", formatCents(p.maxPayout), "order-payout", "bid"));
      rows.push(row("Max profit", formatCents(p.maxProfit), "order-profit"));
    } else {
      rows.push(row(d.type === "market" ? "Min proceeds" : "Proceeds", formatCents(p.proceeds), "order-proceeds", "ask"));
      rows.push(row("Contracts reserved", String(p.contracts), "order-contracts"));
      const h0 = held(d.outcome);
      rows.push(row(`You hold ${d.outcome.toUpperCase()}`, h0 === null ? "—" : String(h0), "order-held"));
    }
    if (p.maxFee > 0) rows.push(row("Fee (at most)", formatCents(p.maxFee), "order-fee"));
    const avail = app.account.value?.available;
    if (avail != null) rows.push(row("Available", formatCents(avail), "order-available"));
    mount(cost, rows.flat());
    warning.textContent = p.warnings.join(" ");
    warning.hidden = p.warnings.length === 0;
  };

  const pick = (p: number, o: Outcome) => {
    outcome.value = o;
    price.value = String(p);
    setMessage(error, "");
    refresh();
    price.focus();
  };

  quickYes.addEventListener("click", () => {
    const p = bestAsk("yes");
    if (p === null) return;
    side.value = "buy";
    pick(p, "yes");
  });
  quickNo.addEventListener("click", () => {
    const p = bestAsk("no");
    if (p === null) return;
    side.value = "buy";
    pick(p, "no");
  });

  let prevType = type.value;
  const onTypeOrSide = () => {
    if (type.value === "market" && prevType !== "market") {
      // A market order's price is its worst acceptable price; default to "any".
      price.value = side.value === "buy" ? "99" : "1";
    } else if (type.value === "market" && (price.value === "99" || price.value === "1")) {
      price.value = side.value === "buy" ? "99" : "1";
    }
    prevType = type.value;
    syncControls();
    refresh();
  };
  side.addEventListener("change", onTypeOrSide);
  type.addEventListener("change", onTypeOrSide);
  tif.addEventListener("change", () => {
    syncControls();
    refresh();
  });
  for (const c of [outcome, price, qty, expires, postOnly]) c.addEventListener("input", refresh);
  outcome.addEventListener("change", refresh);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    setMessage(error, "");
    setMessage(result, "");
    const d = draft();
    const p = previewOrder(d);
    if (p.errors.length) {
      setMessage(error, p.errors.join(" "));
      return;
    }
    const msg: { op: string; [k: string]: unknown } = {
      op: "place",
      market: ticker,
      side: d.side,
      outcome: d.outcome,
      type: d.type,
      price: d.price,
      qty: d.qty,
      tif: tif.value as Tif,
      post_only: postOnly.checked,
      client_order_id: newClientOrderId(),
    };
    if (tif.value === "gtd") {
      const at = fromDateTimeLocal(expires.value);
      if (at === null || at <= Date.now()) {
        setMessage(error, "Choose an expiry time in the future for a GTD order.");
        expires.focus();
        return;
      }
      msg["expires_at"] = at;
    }
    submit.disabled = true;
    try {
      const reply = await app.ws.request(msg);
      const order = reply["order"] as Order | undefined;
      setMessage(result, order ? describeOrder(order) : "Order placed.", "ok");
    } catch (err) {
      setMessage(error, errorText(err));
    } finally {
      submit.disabled = false;
    }
  });

  syncControls();
  refresh();
  return { el, pick, refresh };
}
