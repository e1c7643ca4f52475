import { describe, expect, it } from "vitest";
import { parseRoute } from "../src/router";

describe("parseRoute", () => {
  it("maps hashes to pages", () => {
    expect(parseRoute("")).toEqual({ page: "markets", arg: "" });
    expect(parseRoute("#/markets")).toEqual({ page: "markets", arg: "" });
    expect(parseRoute("#/market/RAIN-NYC")).toEqual({ page: "market", arg: "RAIN-NYC" });
    expect(parseRoute("#/market/A%2FB")).toEqual({ page: "market", arg: "A/B" });
    expect(parseRoute("#/market/%E0")).toEqual({ page: "market", arg: "%E0" });
    expect(parseRoute("#/admin")).toEqual({ page: "admin", arg: "" });
    expect(parseRoute("#/nope")).toEqual({ page: "missing", arg: "nope" });
  });
});
