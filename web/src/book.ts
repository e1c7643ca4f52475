// L2 order-book replica of one market, built from `book:MKT`: a `book_snapshot` first,
// then `book_delta`s. Pure: no DOM, no socket, no clock.
//
// PROTOCOL.md: "`qty` is the level's new total; 0 removes the level. A client applies
// deltas with `seq = last + 1` and resubscribes on any gap."
//
// `seq` is the *market's* sequence number, shared by every public event of the market
// (book change, trade, status): DESIGN.md §5 "Every public event of a market ... carries
// that market's `seq`, +1 per event, with no gaps". So a trade or status event between
// two deltas is not a gap; the owner feeds those to `observe()` and the replica tracks the
// one sequence across all of them. `ticker` messages repeat the seq of the latest event
// and do not advance it, so they are not fed here.

import type { Outcome, WireLevel } from "./types";

export type BookSide = "bid" | "ask";
/** `[price, qty]`, best first. */
export type Level = readonly [price: number, qty: number];

export interface BookLevels {
  bids: Level[];
  asks: Level[];
}

/**
 * - `applied`: the event was the next in sequence and is now reflected;
 * - `stale`: at or before the replica's seq (a duplicate, or from before the snapshot);
 * - `unsynced`: no snapshot yet (or since the last gap): the event was dropped;
 * - `gap`: one or more events were missed; the replica dropped its state and waits for
 *   a fresh snapshot, which the owner must request by resubscribing.
 */
export type ApplyResult = "applied" | "stale" | "unsynced" | "gap";

export interface SnapshotInput {
  seq: number;
  bids: readonly WireLevel[];
  asks: readonly WireLevel[];
}

export interface DeltaInput {
  seq: number;
  side: BookSide;
  price: number;
  qty: number;
}

export class BookReplica {
  private readonly bids = new Map<number, number>();
  private readonly asks = new Map<number, number>();
  private lastSeq: number | null = null;

  constructor(readonly market: string) {}

  /** The market seq the book reflects, or null while waiting for a snapshot. */
  get seq(): number | null {
    return this.lastSeq;
  }

  get synced(): boolean {
    return this.lastSeq !== null;
  }

  /** Forget everything and wait for a snapshot (e.g. after a reconnect). */
  reset(): void {
    this.bids.clear();
    this.asks.clear();
    this.lastSeq = null;
  }

  /** A snapshot always replaces the book, whatever its seq (a resync or conflation). */
  snapshot(msg: SnapshotInput): void {
    this.bids.clear();
    this.asks.clear();
    for (const [price, qty] of msg.bids) if (qty > 0) this.bids.set(price, qty);
    for (const [price, qty] of msg.asks) if (qty > 0) this.asks.set(price, qty);
    this.lastSeq = msg.seq;
  }

  delta(msg: DeltaInput): ApplyResult {
    const result = this.advance(msg.seq);
    if (result !== "applied") return result;
    const levels = msg.side === "bid" ? this.bids : this.asks;
    if (msg.qty <= 0) levels.delete(msg.price);
    else levels.set(msg.price, msg.qty);
    return "applied";
  }

  /** Another seq-bearing event of this market (`trade`, `market`): advances the seq. */
  observe(seq: number): ApplyResult {
    return this.advance(seq);
  }

  private advance(seq: number): ApplyResult {
    if (this.lastSeq === null) return "unsynced";
    if (seq <= this.lastSeq) return "stale";
    if (seq !== this.lastSeq + 1) {
      this.reset();
      return "gap";
    }
    this.lastSeq = seq;
    return "applied";
  }

  /** Levels in YES cents, best first. */
  yesLevels(): BookLevels {
    return {
      bids: sortLevels(this.bids, "desc"),
      asks: sortLevels(this.asks, "asc"),
    };
  }

  /** Levels as seen by a trader of `view`, best first. */
  levels(view: Outcome): BookLevels {
    return toView(this.yesLevels(), view);
  }
}

function sortLevels(map: Map<number, number>, order: "asc" | "desc"): Level[] {
  const out: Level[] = [...map.entries()];
  out.sort((a, b) => (order === "asc" ? a[0] - b[0] : b[0] - a[0]));
  return out;
}

/**
 * The NO view of a YES book. Buying NO at p is selling YES at 100 − p (DESIGN.md §1), so
 * a YES ask at p is a NO bid at 100 − p and a YES bid at p is a NO ask at 100 − p. Best
 * first stays best first: the lowest YES ask becomes the highest NO bid.
 */
export function toView(yes: BookLevels, view: Outcome): BookLevels {
  if (view === "yes") return yes;
  return {
    bids: yes.asks.map(([p, q]) => [100 - p, q] as const),
    asks: yes.bids.map(([p, q]) => [100 - p, q] as const),
  };
}

/** A YES-cents price seen from `view`. */
export function priceInView(yesPrice: number, view: Outcome): number {
  return view === "yes" ? yesPrice : 100 - yesPrice;
}

export interface LadderRow {
  price: number;
  qty: number;
  /** Running total from the best level to this one. */
  cumulative: number;
  /** Depth-bar width, 0..1: cumulative relative to the deeper side's total. */
  depth: number;
}

export interface Ladder {
  bids: LadderRow[];
  asks: LadderRow[];
  spread: number | null;
}

/** Ladder rows (best first) with cumulative depth bars, capped at `maxLevels` a side. */
export function buildLadder(levels: BookLevels, maxLevels = 20): Ladder {
  const bids = cumulate(levels.bids.slice(0, maxLevels));
  const asks = cumulate(levels.asks.slice(0, maxLevels));
  const deepest = Math.max(bids.at(-1)?.cumulative ?? 0, asks.at(-1)?.cumulative ?? 0, 1);
  for (const row of bids) row.depth = row.cumulative / deepest;
  for (const row of asks) row.depth = row.cumulative / deepest;
  const bestBid = levels.bids[0]?.[0];
  const bestAsk = levels.asks[0]?.[0];
  const spread = bestBid !== undefined && bestAsk !== undefined ? bestAsk - bestBid : null;
  return { bids, asks, spread };
}

function cumulate(levels: Level[]): LadderRow[] {
  let total = 0;
  return levels.map(([price, qty]) => {
    total += qty;
    return { price, qty, cumulative: total, depth: 0 };
  });
}
