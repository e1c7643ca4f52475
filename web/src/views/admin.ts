// Admin: create markets, move them through their lifecycle (open → halted ↔ open →
// closed → resolved yes|no|void), credit play money to a user.

import type { App } from "../app";
import { field, h, mount, msgBox, setMessage } from "../dom";
import { errorText } from "../errors";
import { formatCents, formatDateTime, fromDateTimeLocal, parseDollars, toDateTimeLocal } from "../format";
import { parsePositiveInt } from "../orderMath";
import { frameThrottle } from "../store";
import type { AdminUser, Market, MarketResult } from "../types";
import { confirmDialog } from "./dialog";
import { statusBadge } from "./markets";

export function adminView(root: HTMLElement, app: App): () => void {
  // ---- create --------------------------------------------------------------------------
  const cTicker = h("input", { type: "text", required: true, testid: "admin-create-ticker", autocomplete: "off", placeholder: "RAIN-NYC-2025-07-01" });
  const cTitle = h("input", { type: "text", required: true, testid: "admin-create-title", autocomplete: "off", placeholder: "Will it rain in NYC on July 1?" });
  const cRules = h("textarea", { required: true, rows: "3", testid: "admin-create-rules", placeholder: "Resolves YES if ..." });
  const cClose = h("input", { type: "datetime-local", required: true, testid: "admin-create-close", value: toDateTimeLocal(Date.now() + 7 * 86_400_000) });
  const cFee = h("input", { type: "number", min: "0", step: "1", inputmode: "numeric", testid: "admin-create-fee", placeholder: "0" });
  const cSubmit = h("button", { type: "submit", class: "btn btn-primary", testid: "admin-create-submit" }, "Create market");
  const cMsg = msgBox("admin-create-msg");
  const createForm = h(
    "form",
    { class: "card panel", testid: "admin-create-form", "aria-labelledby": "create-title", novalidate: true },
    h("h2", { id: "create-title" }, "Create market"),
    h("div", { class: "row2" }, field("Ticker", cTicker, "A–Z 0–9 . _ -"), field("Closes at", cClose, "Local time")),
    field("Title", cTitle),
    field("Rules", cRules),
    field("Fee (bps, optional)", cFee, "Basis points of notional; empty for the default"),
    cMsg,
    cSubmit,
  );
  createForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    setMessage(cMsg, "");
    // Tickers are upper case (A–Z, 0–9, ".", "_", "-"); the server validates the pattern.
    const ticker = cTicker.value.trim().toUpperCase();
    const title = cTitle.value.trim();
    const rules = cRules.value.trim();
    const closeTs = fromDateTimeLocal(cClose.value);
    if (!ticker || !title || !rules || closeTs === null) {
      setMessage(cMsg, "Ticker, title, rules and close time are all required.");
      return;
    }
    const body: { ticker: string; title: string; rules: string; close_ts: number; fee_bps?: number } = { ticker, title, rules, close_ts: closeTs };
    if (cFee.value.trim() !== "") {
      const fee = cFee.value.trim() === "0" ? 0 : parsePositiveInt(cFee.value);
      if (fee === null) {
        setMessage(cMsg, "Fee must be a whole number of basis points.");
        return;
      }
      body.fee_bps = fee;
    }
    cSubmit.disabled = true;
    try {
      await app.api.createMarket(body);
      setMessage(cMsg, `Market ${ticker} created.`, "ok");
      cTicker.value = cTitle.value = cRules.value = cFee.value = "";
      await loadMarkets();
    } catch (err) {
      setMessage(cMsg, errorText(err));
    } finally {
      cSubmit.disabled = false;
    }
  });

  // ---- lifecycle -----------------------------------------------------------------------
  const mMsg = msgBox("admin-markets-msg");
  const mBody = h("tbody", null);
  const marketsPanel = h(
    "section",
    { class: "card panel", "aria-labelledby": "lifecycle-title" },
    h("h2", { id: "lifecycle-title" }, "Markets"),
    mMsg,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "grid compact", testid: "admin-markets" },
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("th", { scope: "col" }, "Market"),
            h("th", { scope: "col" }, "Status"),
            h("th", { scope: "col", class: "hide-sm" }, "Closes"),
            h("th", { scope: "col" }, "Actions"),
          ),
        ),
        mBody,
      ),
    ),
  );

  const act = async (label: string, fn: () => Promise<unknown>) => {
    setMessage(mMsg, "");
    try {
      await fn();
      setMessage(mMsg, label, "ok");
      await loadMarkets();
    } catch (err) {
      setMessage(mMsg, errorText(err));
    }
  };

  const lifecycleRow = (m: Market) => {
    const t = m.ticker;
    const btn = (action: "halt" | "open" | "close", label: string, enabled: boolean) =>
      h(
        "button",
        {
          type: "button",
          class: "btn btn-sm btn-ghost",
          testid: `admin-${action}-${t}`,
          disabled: !enabled,
          onclick: () => void act(`${t}: ${action} done.`, () => app.api.marketAction(t, action)),
        },
        label,
      );
    const result = h(
      "select",
      { class: "input-sm", testid: `admin-resolve-result-${t}`, "aria-label": `Resolution for ${t}` },
      h("option", { value: "yes" }, "YES"),
      h("option", { value: "no" }, "NO"),
      h("option", { value: "void" }, "VOID"),
    );
    const resolve = h(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-danger",
        testid: `admin-resolve-${t}`,
        disabled: m.status === "resolved",
        onclick: async () => {
          const r = result.value as MarketResult;
          const payout = r === "void" ? "every contract pays 50¢" : `${r.toUpperCase()} contracts pay $1.00, ${r === "yes" ? "NO" : "YES"} pay 0`;
          const sure = await confirmDialog({
            title: `Resolve ${t} as ${r.toUpperCase()}?`,
            body: [h("p", null, m.title), h("p", null, `Resting orders are cancelled and ${payout}. This cannot be undone.`)],
            confirm: `Resolve ${r.toUpperCase()}`,
            danger: true,
          });
          if (sure) await act(`${t} resolved ${r.toUpperCase()}.`, () => app.api.resolveMarket(t, r));
        },
      },
      "Resolve",
    );
    return h(
      "tr",
      { testid: `admin-market-row-${t}` },
      h("td", null, h("a", { href: `#/market/${encodeURIComponent(t)}`, class: "ticker" }, t), h("div", { class: "title" }, m.title)),
      h("td", null, statusBadge(m, `admin-status-${t}`)),
      h("td", { class: "hide-sm muted" }, formatDateTime(m.close_ts)),
      h(
        "td",
        null,
        h(
          "div",
          { class: "actions wrap" },
          btn("halt", "Halt", m.status === "open"),
          btn("open", "Open", m.status === "halted"),
          btn("close", "Close", m.status === "open" || m.status === "halted"),
          m.status === "resolved" ? null : result,
          m.status === "resolved" ? null : resolve,
        ),
      ),
    );
  };

  const renderMarkets = frameThrottle(() => {
    const list = [...app.markets.value.values()].sort((a, b) => a.ticker.localeCompare(b.ticker));
    mount(mBody, list.length ? list.map(lifecycleRow) : h("tr", null, h("td", { colspan: "4", class: "empty" }, "No markets yet")));
  });

  const loadMarkets = async () => {
    try {
      let cursor: string | null = null;
      // Every status; a few pages at most.
      for (let page = 0; page < 10; page += 1) {
        const res = await app.api.markets(undefined, cursor, 500);
        app.mergeMarkets(res.markets ?? []);
        cursor = res.next_cursor ?? null;
        if (!cursor) break;
      }
    } catch (err) {
      setMessage(mMsg, errorText(err));
    }
  };

  // ---- credit --------------------------------------------------------------------------
  const uEmail = h("input", { type: "email", testid: "admin-user-email", autocomplete: "off", placeholder: "trader@example.com" });
  const uSearch = h("button", { type: "submit", class: "btn btn-ghost", testid: "admin-user-search" }, "Find user");
  const uList = h("div", { class: "user-list", testid: "admin-users", role: "radiogroup", "aria-label": "Users found" });
  const amount = h("input", { type: "text", inputmode: "decimal", testid: "admin-credit-amount", placeholder: "100.00", autocomplete: "off" });
  const amountEcho = h("span", { class: "hint", testid: "admin-credit-cents" });
  const creditBtn = h("button", { type: "submit", class: "btn btn-primary", testid: "admin-credit-submit", disabled: true }, "Credit");
  const crMsg = msgBox("admin-credit-msg");
  let selected: AdminUser | null = null;

  const searchForm = h("form", { class: "inline-form", "aria-label": "Find a user by email" }, field("User email", uEmail), uSearch);
  const creditForm = h("form", { class: "inline-form", "aria-label": "Credit the selected user" }, field("Amount (USD)", amount, amountEcho), creditBtn);
  const creditPanel = h(
    "section",
    { class: "card panel", "aria-labelledby": "credit-title" },
    h("h2", { id: "credit-title" }, "Credit play money"),
    searchForm,
    uList,
    creditForm,
    crMsg,
  );

  const selectUser = (u: AdminUser | null) => {
    selected = u;
    for (const el of uList.querySelectorAll<HTMLElement>("[data-user]")) {
      el.setAttribute("aria-checked", String(el.dataset["user"] === u?.user_id));
    }
    creditBtn.disabled = !u;
    creditBtn.textContent = u ? `Credit ${u.email}` : "Credit";
  };

  searchForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    setMessage(crMsg, "");
    const email = uEmail.value.trim();
    if (!email) return;
    try {
      const res = await app.api.findUsers(email);
      const users = res.users ?? [];
      mount(
        uList,
        users.length
          ? users.map((u) =>
              h(
                "button",
                {
                  type: "button",
                  role: "radio",
                  "aria-checked": "false",
                  class: "user-pick",
                  "data-user": u.user_id,
                  testid: `admin-user-row-${u.user_id}`,
                  onclick: () => selectUser(u),
                },
                h("span", null, u.email),
                h("span", { class: "muted mono" }, ` ${u.role} · ${u.user_id}`),
              ),
            )
          : h("p", { class: "muted" }, "No user with that email."),
      );
      selectUser(users.length === 1 ? (users[0] ?? null) : null);
    } catch (err) {
      setMessage(crMsg, errorText(err));
    }
  });

  amount.addEventListener("input", () => {
    const cents = parseDollars(amount.value);
    amountEcho.textContent = cents === null ? "Dollars and cents, e.g. 250 or 12.50" : `${formatCents(cents)} = ${cents} cents`;
  });
  amount.dispatchEvent(new Event("input"));

  creditForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    setMessage(crMsg, "");
    const cents = parseDollars(amount.value);
    if (!selected) {
      setMessage(crMsg, "Find and select a user first.");
      return;
    }
    if (cents === null || cents <= 0) {
      setMessage(crMsg, "Enter a positive amount in dollars, e.g. 100 or 12.50.");
      amount.focus();
      return;
    }
    creditBtn.disabled = true;
    try {
      await app.api.credit(selected.user_id, cents);
      setMessage(crMsg, `Credited ${formatCents(cents)} to ${selected.email}.`, "ok");
      amount.value = "";
      amount.dispatchEvent(new Event("input"));
      if (selected.user_id === app.me.value?.user_id) void app.loadAccount();
    } catch (err) {
      setMessage(crMsg, errorText(err));
    } finally {
      creditBtn.disabled = !selected;
    }
  });

  mount(
    root,
    h(
      "section",
      { class: "page admin-page", testid: "admin-page", "aria-labelledby": "admin-title" },
      h("div", { class: "page-head" }, h("h1", { id: "admin-title" }, "Admin")),
      h("div", { class: "admin-grid" }, createForm, creditPanel),
      marketsPanel,
    ),
  );

  const unwatch = app.markets.watch(renderMarkets);
  void loadMarkets();
  return () => unwatch();
}
