// Entry point: build the app context, the frame, and route by location hash:
// #/markets · #/market/TICKER · #/account · #/admin · #/login · #/register

import "./style.css";
import { App } from "./app";
import { h, mount } from "./dom";
import { accountView } from "./views/account";
import { adminView } from "./views/admin";
import { loginView, registerView } from "./views/auth";
import { renderLayout } from "./views/layout";
import { marketView } from "./views/market";
import { marketsView } from "./views/markets";
import { parseRoute, type Route } from "./router";

const root = document.getElementById("app");
if (!root) throw new Error("#app missing");
const app = new App();
const layout = renderLayout(root, app);
let cleanup: () => void = () => undefined;
/** What the current page was rendered for, to re-render only when access changes. */
let renderedKey = "";

function accessKey(route: Route): string {
  // Only the gated pages depend on who is signed in; the others follow the session live.
  const gated = route.page === "account" || route.page === "admin";
  const who = gated ? `${app.session.loggedIn}:${route.page === "admin" ? (app.me.value?.role ?? "?") : ""}` : "";
  return `${route.page}:${route.arg}:${who}`;
}

function render(): void {
  const route = parseRoute(location.hash);
  const key = accessKey(route);
  if (key === renderedKey) return;
  renderedKey = key;
  cleanup();
  cleanup = () => undefined;
  const main = layout.main;
  mount(main);
  layout.setActive(route.page);
  document.title = "LFG";
  const gate = (text: string, link?: [string, string]) =>
    mount(main, h("section", { class: "page" }, h("div", { class: "card empty", testid: "gate" }, text, link ? [" ", h("a", { href: link[0] }, link[1])] : null)));

  switch (route.page) {
    case "markets":
      cleanup = marketsView(main, app);
      break;
    case "market":
      cleanup = marketView(main, app, route.arg);
      break;
    case "login":
      cleanup = loginView(main, app);
      break;
    case "register":
      cleanup = registerView(main, app);
      break;
    case "account":
      if (!app.session.loggedIn) gate("Log in to see your account.", ["#/login", "Log in"]);
      else cleanup = accountView(main, app);
      break;
    case "admin":
      if (!app.session.loggedIn) gate("Log in as an administrator.", ["#/login", "Log in"]);
      else if (!app.me.value) gate("Loading…");
      else if (app.me.value.role !== "admin") gate("This page is for administrators.", ["#/markets", "Back to markets"]);
      else cleanup = adminView(main, app);
      break;
    case "missing":
      gate("Page not found.", ["#/markets", "Go to markets"]);
      break;
  }
}

window.addEventListener("hashchange", render);
app.me.watch(() => render());
app.session.onChange(() => render());
app.start();
render();
