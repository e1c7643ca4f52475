import { describe, expect, it } from "vitest";
import { LfgError, describeError } from "../src/errors";

const CODES = [
  "invalid_message",
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "rate_limited",
  "market_not_open",
  "insufficient_funds",
  "insufficient_position",
  "post_only_would_cross",
  "fok_unfillable",
  "too_many_open_orders",
  "timeout",
  "unavailable",
  "internal",
];

describe("error messages", () => {
  it("has a specific message for every protocol error code", () => {
    const texts = CODES.map((c) => describeError(c));
    for (const t of texts) expect(t).not.toMatch(/^Error \(/);
    expect(new Set(texts).size).toBe(CODES.length);
  });

  it("shows the server's rule for invalid_message", () => {
    expect(describeError("invalid_message", "password must contain a digit")).toContain("password must contain a digit");
  });

  it("adds Retry-After to rate_limited", () => {
    expect(new LfgError("rate_limited", "", 429, 7).message).toContain("Retry in 7s");
  });

  it("falls back for unknown codes", () => {
    expect(describeError("weird_code", "x")).toContain("weird_code");
  });
});
