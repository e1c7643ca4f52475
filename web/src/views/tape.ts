// Time & sales: the market's trades, newest first, bounded.

import { priceInView } from "../book";
import { h, mount } from "../dom";
import { formatQty, formatTime } from "../format";
import type { Outcome, Trade } from "../types";

export const TAPE_CAP = 200;

/** Newest-first trade list without duplicates, capped. Pure. */
export class TradeTape {
  private list: Trade[] = [];
  private readonly ids = new Set<string>();

  constructor(readonly cap = TAPE_CAP) {}

  get trades(): readonly Trade[] {
    return this.list;
  }

  clear(): void {
    this.list = [];
    this.ids.clear();
  }

  /** Add trades (any order); returns true when something new arrived. */
  add(trades: readonly Trade[]): boolean {
    let changed = false;
    for (const t of trades) {
      if (this.ids.has(t.trade_id)) continue;
      this.ids.add(t.trade_id);
      this.list.push(t);
      changed = true;
    }
    if (!changed) return false;
    this.list.sort((a, b) => b.ts - a.ts || (a.trade_id < b.trade_id ? 1 : a.trade_id > b.trade_id ? -1 : 0));
    if (this.list.length > this.cap) {
      for (const t of this.list.splice(this.cap)) this.ids.delete(t.trade_id);
    }
    return true;
  }
}

export function renderTape(body: HTMLElement, tape: TradeTape, view: Outcome, max = 60): void {
  const rows = tape.trades.slice(0, max).map((t) => {
    // taker_side is in YES terms: a YES buy lifts the offer (up); in the NO view it is a NO sell.
    const up = (t.taker_side === "buy") === (view === "yes");
    return h(
      "tr",
      { testid: `tape-row-${t.trade_id}`, class: up ? "up" : "down" },
      h("td", { class: "muted" }, formatTime(t.ts)),
      h("td", { class: `num ${up ? "bid" : "ask"}` }, `${priceInView(t.price, view)}¢`),
      h("td", { class: "num" }, formatQty(t.qty)),
      h("td", { class: "muted side" }, up ? "▲" : "▼"),
    );
  });
  mount(body, rows.length ? rows : h("tr", null, h("td", { colspan: "4", class: "empty" }, "No trades yet")));
}
