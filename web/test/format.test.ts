import { describe, expect, it } from "vitest";
import { formatCents, formatPrice, formatSignedCents, parseDollars } from "../src/format";

describe("money formatting", () => {
  it("shows integer cents as dollars with cents precision", () => {
    expect(formatCents(1234)).toBe("$12.34");
    expect(formatCents(5)).toBe("$0.05");
    expect(formatCents(0)).toBe("$0.00");
    expect(formatCents(123456789)).toBe("$1,234,567.89");
    expect(formatCents(-250)).toBe("-$2.50");
    expect(formatSignedCents(120)).toBe("+$1.20");
    expect(formatSignedCents(-40)).toBe("-$0.40");
  });

  it("shows prices in cents", () => {
    expect(formatPrice(55)).toBe("55¢");
    expect(formatPrice(null)).toBe("—");
  });
});

describe("parseDollars", () => {
  it("parses dollars to integer cents without floats", () => {
    expect(parseDollars("12")).toBe(1200);
    expect(parseDollars("12.3")).toBe(1230);
    expect(parseDollars("12.34")).toBe(1234);
    expect(parseDollars("$1,000.50")).toBe(100050);
    expect(parseDollars("0.07")).toBe(7);
    expect(parseDollars("19.99")).toBe(1999);
  });

  it("rejects anything else", () => {
    for (const bad of ["", "abc", "1.234", "-5", "1e3", "."]) expect(parseDollars(bad)).toBeNull();
  });
});
