// The user's position and P&L in one market: quantities from the account (authoritative),
// cost basis and realised P&L from fills, marked at the last trade (or the resolution).

import { h, mount } from "../dom";
import { formatCents, formatPrice, formatSignedCents } from "../format";
import { averageCost, positionFromFills, unrealized, yesMark } from "../pnl";
import type { Fill, Market, Position } from "../types";

export interface PositionPanel {
  el: HTMLElement;
  render(pos: Position | null, fills: readonly Fill[], market: Market | undefined, historyComplete: boolean): void;
}

function pnlClass(v: number | null): string {
  return v === null || v === 0 ? "" : v > 0 ? "bid" : "ask";
}

export function createPositionPanel(): PositionPanel {
  const body = h("dl", { class: "summary" });
  const el = h(
    "section",
    { class: "card panel", testid: "position", "aria-labelledby": "pos-title" },
    h("h2", { id: "pos-title" }, "My position"),
    body,
  );
  return {
    el,
    render(pos, fills, market, historyComplete) {
      const fromFills = positionFromFills(fills);
      const yes = pos?.yes ?? fromFills.yes;
      const no = pos?.no ?? fromFills.no;
      const mark = yesMark(market?.last ?? null, market?.status === "resolved" ? market.result : null);
      // Cost basis is only meaningful when the fills explain the holdings.
      const consistent = historyComplete && fromFills.yes === yes && fromFills.no === no;
      const unreal = consistent ? unrealized(fromFills, mark) : null;
      const total = unreal === null ? null : unreal + fromFills.realized;
      const outcome = yes > 0 ? "yes" : no > 0 ? "no" : null;
      const avg = outcome && consistent ? averageCost(fromFills, outcome) : null;
      const markInSide = mark === null || outcome === null ? null : outcome === "yes" ? mark : 100 - mark;
      const row = (label: string, value: string, testid: string, cls = "") => [
        h("dt", null, label),
        h("dd", { class: `num ${cls}`, testid }, value),
      ];
      mount(
        body,
        row("YES", String(yes), "position-yes", yes > 0 ? "bid" : ""),
        row("NO", String(no), "position-no", no > 0 ? "ask" : ""),
        row("Avg cost", avg === null ? "—" : `${avg.toFixed(1)}¢`, "position-avg"),
        row(market?.status === "resolved" ? "Settles at" : "Mark (last)", formatPrice(markInSide), "position-mark"),
        row(
          "Value",
          markInSide === null || outcome === null ? (outcome === null ? formatCents(0) : "—") : formatCents((yes + no) * markInSide),
          "position-value",
        ),
        row("Unrealized P&L", unreal === null ? "—" : formatSignedCents(unreal), "position-unrealized", pnlClass(unreal)),
        row("Realized P&L", formatSignedCents(fromFills.realized), "position-realized", pnlClass(fromFills.realized)),
        row("Total P&L", total === null ? "—" : formatSignedCents(total), "position-pnl", pnlClass(total)),
        fromFills.fees > 0 ? row("Fees paid", formatCents(fromFills.fees), "position-fees") : null,
        consistent || (yes === 0 && no === 0) ? null : h("p", { class: "hint span2" }, "Cost basis unavailable: fill history does not cover the whole position."),
      );
    },
  };
}
