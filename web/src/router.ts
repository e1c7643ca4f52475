// Hash routes: #/markets · #/market/TICKER · #/account · #/admin · #/login · #/register

export type Route = { page: "markets" | "market" | "account" | "admin" | "login" | "register" | "missing"; arg: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/");
  const page = parts[0] ?? "";
  const arg = parts.slice(1).join("/");
  switch (page) {
    case "":
    case "markets":
      return { page: "markets", arg: "" };
    case "market":
      return arg ? { page: "market", arg: safeDecode(arg) } : { page: "markets", arg: "" };
    case "account":
    case "admin":
    case "login":
    case "register":
      return { page, arg: "" };
    default:
      return { page: "missing", arg: page };
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
