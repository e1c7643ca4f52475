import { describe, expect, it } from "vitest";
import { BookReplica, buildLadder, priceInView, toView } from "../src/book";

function seeded(): BookReplica {
  const b = new BookReplica("MKT");
  b.snapshot({
    seq: 41,
    bids: [
      [55, 300],
      [54, 10],
    ],
    asks: [
      [57, 20],
      [60, 5],
    ],
  });
  return b;
}

describe("BookReplica", () => {
  it("waits for a snapshot and drops deltas before it", () => {
    const b = new BookReplica("MKT");
    expect(b.synced).toBe(false);
    expect(b.delta({ seq: 1, side: "bid", price: 50, qty: 1 })).toBe("unsynced");
    expect(b.yesLevels()).toEqual({ bids: [], asks: [] });
  });

  it("loads a snapshot best first", () => {
    const b = seeded();
    expect(b.seq).toBe(41);
    expect(b.yesLevels()).toEqual({
      bids: [
        [55, 300],
        [54, 10],
      ],
      asks: [
        [57, 20],
        [60, 5],
      ],
    });
  });

  it("applies a delta as the level's new total", () => {
    const b = seeded();
    expect(b.delta({ seq: 42, side: "bid", price: 55, qty: 250 })).toBe("applied");
    expect(b.yesLevels().bids[0]).toEqual([55, 250]);
    expect(b.seq).toBe(42);
  });

  it("adds a new level in price order", () => {
    const b = seeded();
    b.delta({ seq: 42, side: "ask", price: 56, qty: 7 });
    b.delta({ seq: 43, side: "bid", price: 50, qty: 1 });
    expect(b.yesLevels().asks.map(([p]) => p)).toEqual([56, 57, 60]);
    expect(b.yesLevels().bids.map(([p]) => p)).toEqual([55, 54, 50]);
  });

  it("removes a level when qty is 0", () => {
    const b = seeded();
    expect(b.delta({ seq: 42, side: "ask", price: 57, qty: 0 })).toBe("applied");
    expect(b.yesLevels().asks).toEqual([[60, 5]]);
  });

  it("ignores stale and duplicate deltas", () => {
    const b = seeded();
    b.delta({ seq: 42, side: "bid", price: 55, qty: 250 });
    expect(b.delta({ seq: 42, side: "bid", price: 55, qty: 999 })).toBe("stale");
    expect(b.delta({ seq: 30, side: "bid", price: 55, qty: 999 })).toBe("stale");
    expect(b.yesLevels().bids[0]).toEqual([55, 250]);
  });

  it("detects a gap, drops its state and waits for a new snapshot", () => {
    const b = seeded();
    expect(b.delta({ seq: 43, side: "bid", price: 55, qty: 1 })).toBe("gap");
    expect(b.synced).toBe(false);
    expect(b.yesLevels()).toEqual({ bids: [], asks: [] });
    expect(b.delta({ seq: 44, side: "bid", price: 55, qty: 1 })).toBe("unsynced");
    b.snapshot({ seq: 50, bids: [[40, 1]], asks: [] });
    expect(b.delta({ seq: 51, side: "ask", price: 45, qty: 2 })).toBe("applied");
    expect(b.yesLevels()).toEqual({ bids: [[40, 1]], asks: [[45, 2]] });
  });

  it("counts trades and status events in the market sequence", () => {
    const b = seeded();
    expect(b.delta({ seq: 42, side: "ask", price: 57, qty: 15 })).toBe("applied");
    expect(b.observe(43)).toBe("applied"); // the trade
    expect(b.delta({ seq: 44, side: "ask", price: 57, qty: 10 })).toBe("applied");
    expect(b.observe(44)).toBe("stale"); // the same event seen on another channel
    expect(b.observe(46)).toBe("gap");
  });

  it("a snapshot replaces the book whatever its seq (conflation, resync)", () => {
    const b = seeded();
    b.snapshot({ seq: 100, bids: [], asks: [[70, 3]] });
    expect(b.yesLevels()).toEqual({ bids: [], asks: [[70, 3]] });
    expect(b.seq).toBe(100);
  });

  it("reset forgets everything", () => {
    const b = seeded();
    b.reset();
    expect(b.synced).toBe(false);
    expect(b.seq).toBeNull();
  });
});

describe("NO view", () => {
  it("mirrors prices and swaps sides, best first", () => {
    const b = seeded();
    // YES asks 57, 60 → NO bids 43, 40; YES bids 55, 54 → NO asks 45, 46.
    expect(b.levels("no")).toEqual({
      bids: [
        [43, 20],
        [40, 5],
      ],
      asks: [
        [45, 300],
        [46, 10],
      ],
    });
  });

  it("YES view is the book itself", () => {
    const b = seeded();
    expect(b.levels("yes")).toEqual(b.yesLevels());
  });

  it("is an involution on prices", () => {
    const yes = seeded().yesLevels();
    const back = toView(toView(yes, "no"), "no");
    expect(back).toEqual(yes);
    expect(priceInView(57, "no")).toBe(43);
    expect(priceInView(57, "yes")).toBe(57);
  });
});

describe("buildLadder", () => {
  it("accumulates depth and scales bars to the deeper side", () => {
    const ladder = buildLadder(seeded().yesLevels());
    expect(ladder.bids.map((r) => r.cumulative)).toEqual([300, 310]);
    expect(ladder.asks.map((r) => r.cumulative)).toEqual([20, 25]);
    expect(ladder.bids[1]?.depth).toBe(1);
    expect(ladder.asks[1]?.depth).toBeCloseTo(25 / 310);
    expect(ladder.spread).toBe(2);
  });

  it("has no spread on a one-sided book and caps levels", () => {
    const ladder = buildLadder(
      {
        bids: [
          [50, 1],
          [49, 1],
          [48, 1],
        ],
        asks: [],
      },
      2,
    );
    expect(ladder.bids).toHaveLength(2);
    expect(ladder.spread).toBeNull();
  });
});
