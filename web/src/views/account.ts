// Account: cash (available and held), positions across markets, open orders, API keys.

import type { App } from "../app";
import { field, h, mount, msgBox, setMessage } from "../dom";
import { errorText } from "../errors";
import { formatCents, formatDateTime, formatPrice } from "../format";
import type { ApiKey } from "../types";
import { confirmDialog } from "./dialog";
import { createOpenOrders, reload as reloadOrders } from "./orders";

export function accountView(root: HTMLElement, app: App): () => void {
  const available = h("div", { class: "big num", testid: "balance-available" }, "—");
  const held = h("div", { class: "big num", testid: "balance-held" }, "—");
  const total = h("div", { class: "big num", testid: "balance-total" }, "—");
  const who = h("p", { class: "muted", testid: "account-user" });
  const posBody = h("tbody", null);
  const openOrders = createOpenOrders(app, null);

  // API keys
  const keyName = h("input", { type: "text", maxlength: "64", testid: "apikey-name", placeholder: "e.g. market-maker-1", autocomplete: "off" });
  const keyCreate = h("button", { type: "submit", class: "btn btn-primary", testid: "apikey-create" }, "Create key");
  const keyMsg = msgBox("apikey-error");
  const secretBox = h("div", { class: "secret", testid: "apikey-secret-box", hidden: true });
  const keysBody = h("tbody", null);
  const keyForm = h(
    "form",
    { class: "inline-form", testid: "apikey-form", "aria-label": "Create an API key" },
    field("Key name", keyName),
    keyCreate,
  );

  mount(
    root,
    h(
      "section",
      { class: "page account-page", "aria-labelledby": "acct-title" },
      h("div", { class: "page-head" }, h("h1", { id: "acct-title" }, "Account"), who),
      h(
        "div",
        { class: "balances" },
        h("div", { class: "card tile" }, h("div", { class: "stat-label" }, "Available"), available),
        h("div", { class: "card tile" }, h("div", { class: "stat-label" }, "Held in orders"), held),
        h("div", { class: "card tile" }, h("div", { class: "stat-label" }, "Total cash"), total),
      ),
      h(
        "section",
        { class: "card panel", "aria-labelledby": "pos-title" },
        h("h2", { id: "pos-title" }, "Positions"),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "grid", testid: "positions-table" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                h("th", { scope: "col" }, "Market"),
                h("th", { scope: "col", class: "num" }, "YES"),
                h("th", { scope: "col", class: "num" }, "NO"),
                h("th", { scope: "col", class: "num" }, "Last"),
                h("th", { scope: "col", class: "num" }, "Value at last"),
              ),
            ),
            posBody,
          ),
        ),
      ),
      openOrders.el,
      h(
        "section",
        { class: "card panel", "aria-labelledby": "keys-title" },
        h("h2", { id: "keys-title" }, "API keys"),
        h("p", { class: "muted" }, "For bots: send the key as a bearer token on REST or in the WebSocket auth op. The secret is shown once."),
        keyForm,
        keyMsg,
        secretBox,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "grid compact", testid: "apikeys-table" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                h("th", { scope: "col" }, "Name"),
                h("th", { scope: "col", class: "hide-sm" }, "Key id"),
                h("th", { scope: "col" }, "Created"),
                h("th", { scope: "col", class: "hide-sm" }, "Last used"),
                h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
              ),
            ),
            keysBody,
          ),
        ),
      ),
    ),
  );

  const renderAccount = () => {
    const a = app.account.value;
    const me = app.me.value;
    who.textContent = me ? `${me.email} · ${me.role}` : "";
    available.textContent = a ? formatCents(a.available) : "—";
    held.textContent = a ? formatCents(a.held) : "—";
    total.textContent = a ? formatCents(a.available + a.held) : "—";
    const positions = (a?.positions ?? []).filter((p) => p.yes > 0 || p.no > 0);
    const rows = positions.map((p) => {
      const m = app.markets.value.get(p.market);
      const last = m?.last ?? null;
      const value = last === null ? null : p.yes * last + p.no * (100 - last);
      return h(
        "tr",
        { testid: `position-row-${p.market}` },
        h("td", null, h("a", { href: `#/market/${encodeURIComponent(p.market)}`, class: "ticker" }, p.market), m ? h("div", { class: "title" }, m.title) : null),
        h("td", { class: `num ${p.yes ? "bid" : ""}`, testid: `position-yes-${p.market}` }, String(p.yes)),
        h("td", { class: `num ${p.no ? "ask" : ""}`, testid: `position-no-${p.market}` }, String(p.no)),
        h("td", { class: "num" }, formatPrice(last)),
        h("td", { class: "num" }, value === null ? "—" : formatCents(value)),
      );
    });
    mount(posBody, rows.length ? rows : h("tr", null, h("td", { colspan: "5", class: "empty" }, "No positions")));
    openOrders.render();
  };

  const renderKeys = (keys: readonly ApiKey[]) => {
    const rows = keys.map((k) =>
      h(
        "tr",
        { testid: `apikey-row-${k.key_id}` },
        h("td", null, k.name),
        h("td", { class: "hide-sm mono muted" }, k.key_id),
        h("td", { class: "muted" }, formatDateTime(k.created_ts)),
        h("td", { class: "hide-sm muted" }, k.last_used_ts ? formatDateTime(k.last_used_ts) : "never"),
        h(
          "td",
          null,
          h(
            "button",
            {
              type: "button",
              class: "btn btn-sm btn-danger",
              testid: `apikey-delete-${k.key_id}`,
              "aria-label": `Revoke API key ${k.name}`,
              onclick: async () => {
                const sure = await confirmDialog({
                  title: "Revoke API key?",
                  body: `Bots using “${k.name}” stop working at once.`,
                  confirm: "Revoke",
                  danger: true,
                });
                if (!sure) return;
                try {
                  await app.api.deleteApiKey(k.key_id);
                  app.toast("ok", `API key “${k.name}” revoked.`);
                  await loadKeys();
                } catch (err) {
                  setMessage(keyMsg, errorText(err));
                }
              },
            },
            "Revoke",
          ),
        ),
      ),
    );
    mount(keysBody, rows.length ? rows : h("tr", null, h("td", { colspan: "5", class: "empty" }, "No API keys")));
  };

  const loadKeys = async () => {
    try {
      const res = await app.api.listApiKeys();
      renderKeys(res.api_keys ?? []);
    } catch (err) {
      setMessage(keyMsg, errorText(err));
    }
  };

  keyForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    setMessage(keyMsg, "");
    const name = keyName.value.trim();
    if (!name) {
      setMessage(keyMsg, "Give the key a name.");
      keyName.focus();
      return;
    }
    keyCreate.disabled = true;
    try {
      const k = await app.api.createApiKey(name);
      keyName.value = "";
      const secret = h("input", { type: "text", readonly: true, class: "mono", testid: "apikey-secret", value: k.secret, "aria-label": "API key secret" });
      const copy = h("button", { type: "button", class: "btn btn-sm btn-primary", testid: "apikey-copy" }, "Copy");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(k.secret);
          copy.textContent = "Copied";
        } catch {
          secret.select();
          copy.textContent = "Press Ctrl+C";
        }
      });
      mount(
        secretBox,
        h("p", null, h("strong", null, `Secret for “${k.name}”. `), "Copy it now: it will not be shown again."),
        h("div", { class: "with-button" }, secret, copy),
        h("button", { type: "button", class: "btn btn-sm btn-ghost", testid: "apikey-secret-dismiss", onclick: () => { mount(secretBox); secretBox.hidden = true; } }, "I saved it"),
      );
      secretBox.hidden = false;
      secret.focus();
      secret.select();
      await loadKeys();
    } catch (err) {
      setMessage(keyMsg, errorText(err));
    } finally {
      keyCreate.disabled = false;
    }
  });

  const cleanups = [
    app.account.watch(renderAccount),
    app.me.watch(renderAccount),
    app.markets.watch(renderAccount),
    app.orders.watch(() => openOrders.render()),
    app.ws.onReady(() => {
      void app.loadAccount();
      void reloadOrders(app, null).catch(() => undefined);
    }),
  ];
  void app.loadAccount();
  void reloadOrders(app, null).catch((err: unknown) => app.toast("error", errorText(err)));
  void loadKeys();
  // Positions name markets: make sure their titles and last prices are known.
  if (app.markets.value.size === 0) app.api.markets(undefined).then((r) => app.mergeMarkets(r.markets ?? []), () => undefined);

  return () => {
    for (const c of cleanups) c();
    // A shown secret must not survive navigation.
    mount(secretBox);
  };
}
