// Display formatting. Money stays integer cents until it becomes text.

/** 123456 → "$1,234.56"; -5 → "-$0.05". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(cents));
  const dollars = Math.floor(abs / 100);
  const rest = abs % 100;
  return `${sign}$${dollars.toLocaleString("en-US")}.${rest.toString().padStart(2, "0")}`;
}

/** Signed money for P&L: "+$1.20", "-$0.40", "$0.00". */
export function formatSignedCents(cents: number): string {
  return cents > 0 ? `+${formatCents(cents)}` : formatCents(cents);
}

/** A contract price: 55 → "55¢"; null → "—". */
export function formatPrice(price: number | null | undefined): string {
  return price == null ? "—" : `${price}¢`;
}

export function formatQty(qty: number | null | undefined): string {
  return qty == null ? "—" : qty.toLocaleString("en-US");
}

/**
 * Dollars typed by a user ("12", "12.3", "12.34", "$1,000.50") → integer cents, or null.
 * Parsed as text so no float touches the amount.
 */
export function parseDollars(text: string): number | null {
  const t = text.trim().replace(/^\$/, "").replace(/,/g, "");
  const m = /^(\d+)(?:\.(\d{0,2}))?$/.exec(t);
  if (!m) return null;
  const whole = Number(m[1]);
  const frac = Number((m[2] ?? "").padEnd(2, "0"));
  const cents = whole * 100 + frac;
  return Number.isSafeInteger(cents) ? cents : null;
}

function pad(n: number): string {
  return n.toString().padStart(2, "0");
}

/** Local "2025-06-01 14:03:07". */
export function formatDateTime(ts: number | null | undefined): string {
  if (ts == null) return "—";
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Local "14:03:07". */
export function formatTime(ts: number): string {
  const d = new Date(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "in 3d 4h", "in 12m", "closed 2h ago". */
export function formatRelative(ts: number | null | undefined, now: number): string {
  if (ts == null) return "";
  const diff = ts - now;
  const abs = Math.abs(diff);
  const min = Math.floor(abs / 60_000);
  const hours = Math.floor(min / 60);
  const days = Math.floor(hours / 24);
  const span = days > 0 ? `${days}d ${hours % 24}h` : hours > 0 ? `${hours}h ${min % 60}m` : `${min}m`;
  return diff >= 0 ? `in ${span}` : `${span} ago`;
}

/** A `<input type="datetime-local">` value for a ms timestamp, in local time. */
export function toDateTimeLocal(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value (local time) → ms, or null. */
export function fromDateTimeLocal(value: string): number | null {
  if (!value) return null;
  const ts = new Date(value).getTime();
  return Number.isFinite(ts) ? ts : null;
}
