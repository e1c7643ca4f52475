// The order-book ladder: asks above (best nearest the middle), the spread, bids below,
// with cumulative depth bars. Prices in the current view (YES, or NO = 100 − YES).

import { buildLadder, type BookReplica, type LadderRow } from "../book";
import { h, mount, text } from "../dom";
import { formatQty } from "../format";
import type { Outcome } from "../types";

export interface LadderWidget {
  el: HTMLElement;
  render(book: BookReplica, view: Outcome, live: boolean): void;
}

const LEVELS = 15;

export function createLadder(onPick: (price: number, side: "bid" | "ask") => void): LadderWidget {
  const asks = h("div", { class: "ladder-side ladder-asks", role: "group", "aria-label": "Asks" });
  const bids = h("div", { class: "ladder-side ladder-bids", role: "group", "aria-label": "Bids" });
  const spread = h("div", { class: "ladder-spread", testid: "ladder-spread" });
  const status = h("div", { class: "ladder-status", testid: "book-status", "aria-live": "polite" });
  const seq = h("span", { class: "muted seq", testid: "book-seq" });
  const el = h(
    "div",
    { class: "ladder", testid: "ladder" },
    h("div", { class: "ladder-head", "aria-hidden": "true" }, h("span", null, "Price"), h("span", null, "Qty"), h("span", null, "Total")),
    asks,
    spread,
    bids,
    h("div", { class: "ladder-foot" }, status, seq),
  );

  const row = (r: LadderRow, side: "bid" | "ask", view: Outcome) => {
    const bar = h("span", { class: "depth", "aria-hidden": "true" });
    bar.style.width = `${(r.depth * 100).toFixed(1)}%`;
    return h(
      "button",
      {
        type: "button",
        class: `ladder-row ${side}`,
        testid: `ladder-${side}-${r.price}`,
        "data-price": r.price,
        "aria-label": `${side === "bid" ? "Bid" : "Ask"} ${r.price} cents ${view.toUpperCase()}, ${r.qty} contracts. Use this price.`,
        onclick: () => onPick(r.price, side),
      },
      bar,
      h("span", { class: "px" }, `${r.price}¢`),
      h("span", { class: "qty" }, formatQty(r.qty)),
      h("span", { class: "cum" }, formatQty(r.cumulative)),
    );
  };

  return {
    el,
    render(book, view, live) {
      el.classList.toggle("is-stale", !live || !book.synced);
      const ladder = buildLadder(book.levels(view), LEVELS);
      // Asks print worst (highest) at the top so the best ask sits on the spread.
      mount(asks, [...ladder.asks].reverse().map((r) => row(r, "ask", view)));
      mount(bids, ladder.bids.map((r) => row(r, "bid", view)));
      text(spread, ladder.spread === null ? "Spread —" : `Spread ${ladder.spread}¢`);
      if (!book.synced) text(status, live ? "Syncing book…" : "Waiting for connection…");
      else if (ladder.bids.length === 0 && ladder.asks.length === 0) text(status, "No resting orders");
      else text(status, "");
      text(seq, book.seq === null ? "" : `seq ${book.seq}`);
    },
  };
}
