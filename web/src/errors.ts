// One error type for REST and WebSocket failures, and what to tell the user for each code
// of PROTOCOL.md's error table.

import type { ErrorCode } from "./types";

/** Client-side failures that have no server code. */
export type ClientErrorCode = "network" | "offline" | "disconnected" | "no_reply" | "bad_response";

export class LfgError extends Error {
  constructor(
    readonly code: ErrorCode | ClientErrorCode | string,
    /** The server's human text (may be empty). */
    readonly serverMessage: string,
    readonly status: number | null = null,
    /** Seconds, from `Retry-After` on a REST 429. */
    readonly retryAfter: number | null = null,
  ) {
    super(describeError(code, serverMessage, retryAfter));
    this.name = "LfgError";
  }
}

const MESSAGES: Record<ErrorCode | ClientErrorCode, string> = {
  invalid_message: "The request was not accepted",
  unauthorized: "You are not signed in, or your session has expired. Please log in again",
  forbidden: "You are not allowed to do that",
  not_found: "Not found",
  conflict: "That conflicts with the current state",
  rate_limited: "Too many requests — slow down and try again shortly",
  market_not_open: "This market is not open for trading (it is halted, closed or resolved)",
  insufficient_funds: "Not enough available cash to cover this order's hold",
  insufficient_position:
    "You don't hold enough contracts to sell (contracts in open sell orders are reserved). To bet against an outcome, buy the other one",
  post_only_would_cross: "Post-only order rejected: it would have crossed the spread and taken liquidity",
  fok_unfillable: "Fill-or-kill order could not be filled completely, so nothing was traded",
  too_many_open_orders: "You have reached the open-order limit. Cancel some orders first",
  timeout: "The exchange did not get to the request in time, so nothing was done. Try again",
  unavailable: "The exchange is temporarily unavailable, so nothing was done. Try again shortly",
  internal: "The exchange hit an internal error. Try again; if it persists, report it",
  network: "Could not reach the exchange. Check your connection",
  offline: "Not connected to the exchange (reconnecting), so nothing was sent. Try again in a moment",
  disconnected: "The connection dropped before the exchange replied. Check your open orders before retrying",
  no_reply: "No reply from the exchange yet. Check your open orders before retrying",
  bad_response: "The exchange sent an unexpected response",
};

/** Codes whose server message carries the specific rule and must be shown as is. */
const SERVER_TEXT_FIRST = new Set<string>(["invalid_message", "conflict", "not_found", "forbidden"]);

/** The message shown to the user for an error code and the server's text. */
export function describeError(code: string, serverMessage = "", retryAfter: number | null = null): string {
  const base = (MESSAGES as Record<string, string>)[code] ?? `Error (${code})`;
  const server = serverMessage.trim();
  let text: string;
  if (!server || server.toLowerCase() === base.toLowerCase()) text = `${base}.`;
  else if (SERVER_TEXT_FIRST.has(code)) text = `${base}: ${server}`;
  else text = `${base}. (${server})`;
  if (code === "rate_limited" && retryAfter !== null) text += ` Retry in ${retryAfter}s.`;
  return text;
}

/** A user-facing message from anything thrown. */
export function errorText(err: unknown): string {
  if (err instanceof LfgError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
