// The frame around every page: brand, navigation, connection status, the user's cash and
// session controls, and the toast area.

import type { App } from "../app";
import { h, mount } from "../dom";
import { formatCents } from "../format";
import type { ConnStatus } from "../ws";

export interface Layout {
  main: HTMLElement;
  setActive(page: string): void;
}

const STATE_LABEL: Record<ConnStatus["state"], string> = {
  connecting: "Connecting",
  live: "Live",
  stale: "Stale",
  reconnecting: "Reconnecting",
  stopped: "Offline",
};

export function renderLayout(root: HTMLElement, app: App): Layout {
  const navMarkets = h("a", { href: "#/markets", testid: "nav-markets" }, "Markets");
  const navAccount = h("a", { href: "#/account", testid: "nav-account" }, "Account");
  const navAdmin = h("a", { href: "#/admin", testid: "nav-admin" }, "Admin");
  const nav = h("nav", { class: "nav", "aria-label": "Main" }, navMarkets, navAccount, navAdmin);

  const connDot = h("span", { class: "dot", "aria-hidden": "true" });
  const connText = h("span", { class: "conn-text" });
  const conn = h("div", { class: "conn", testid: "conn-status", title: "Connection to the exchange" }, connDot, connText);
  // Announced on state changes only, not on every tick of the reconnect countdown.
  const connAnnounce = h("span", { class: "sr-only", role: "status", "aria-live": "polite" });

  const userBox = h("div", { class: "user" });
  const main = h("main", { id: "main", class: "main", tabindex: "-1" });
  const toasts = h("div", { class: "toasts", testid: "toasts", role: "status", "aria-live": "polite" });

  mount(
    root,
    h("a", { class: "skip", href: "#main", onclick: (e: Event) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    h(
      "header",
      { class: "topbar" },
      h("a", { class: "brand", href: "#/markets", "aria-label": "LFG home" }, h("span", { class: "brand-mark" }, "LFG"), h("span", { class: "brand-sub" }, "prediction exchange")),
      nav,
      h("div", { class: "topbar-right" }, conn, connAnnounce, userBox),
    ),
    main,
    toasts,
  );

  let retryTicker: ReturnType<typeof setInterval> | null = null;
  app.ws.onStatus((s) => {
    if (conn.dataset["state"] !== s.state) connAnnounce.textContent = `Connection ${STATE_LABEL[s.state].toLowerCase()}`;
    conn.dataset["state"] = s.state;
    const label = () => {
      let t = STATE_LABEL[s.state];
      if (s.state === "reconnecting" && s.retryAt !== null) {
        const secs = Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000));
        t += secs > 0 ? ` in ${secs}s` : "…";
      }
      connText.textContent = t;
    };
    label();
    if (retryTicker) clearInterval(retryTicker);
    retryTicker = s.state === "reconnecting" ? setInterval(label, 1000) : null;
  });

  const renderUser = () => {
    const me = app.me.value;
    const acct = app.account.value;
    navAccount.hidden = !app.session.loggedIn;
    navAdmin.hidden = me?.role !== "admin";
    if (!app.session.loggedIn) {
      mount(
        userBox,
        h("a", { class: "btn btn-ghost", href: "#/login", testid: "nav-login" }, "Log in"),
        h("a", { class: "btn btn-primary", href: "#/register", testid: "nav-register" }, "Sign up"),
      );
      return;
    }
    mount(
      userBox,
      acct
        ? h(
            "a",
            { class: "cash", href: "#/account", title: "Available cash", testid: "header-available" },
            h("span", { class: "cash-label" }, "Cash"),
            h("span", { class: "num" }, formatCents(acct.available)),
          )
        : null,
      h("span", { class: "email", testid: "nav-user", title: me?.email ?? "" }, me?.email ?? "…"),
      h("button", { type: "button", class: "btn btn-ghost", testid: "logout", onclick: () => void app.logout() }, "Log out"),
    );
  };
  app.me.watch(renderUser);
  app.account.watch(renderUser);
  app.session.onChange(renderUser);

  app.toasts.watch((list) => {
    mount(
      toasts,
      list.map((t) =>
        h("div", { class: `toast toast-${t.kind}`, testid: "toast", role: t.kind === "error" ? "alert" : undefined }, t.text),
      ),
    );
  });

  return {
    main,
    setActive(page: string) {
      for (const [a, name] of [
        [navMarkets, "markets"],
        [navAccount, "account"],
        [navAdmin, "admin"],
      ] as const) {
        if (name === page || (page === "market" && name === "markets")) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      }
    },
  };
}
