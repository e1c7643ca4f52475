// Sign up and log in.

import type { App } from "../app";
import { field, h, mount, msgBox, nextId, setMessage } from "../dom";
import { LfgError, errorText } from "../errors";

/** The server's password policy, mirrored so the user sees it while typing. */
export const PASSWORD_RULES: ReadonlyArray<{ id: string; label: string; test: (p: string) => boolean }> = [
  { id: "length", label: "At least 10 characters", test: (p) => [...p].length >= 10 },
  { id: "upper", label: "An uppercase letter", test: (p) => /\p{Lu}/u.test(p) },
  { id: "lower", label: "A lowercase letter", test: (p) => /\p{Ll}/u.test(p) },
  { id: "digit", label: "A digit", test: (p) => /\d/.test(p) },
  { id: "special", label: "A special character (e.g. ! ? # @ -)", test: (p) => /[^\p{L}\p{N}\s]/u.test(p) },
];

function authError(err: unknown, context: "login" | "register"): string {
  if (err instanceof LfgError) {
    if (context === "login" && err.code === "unauthorized") return "Wrong email or password.";
    if (context === "register" && err.code === "conflict") return "An account with this email already exists. Log in instead.";
    if (context === "register" && err.code === "invalid_message" && err.serverMessage) return err.serverMessage;
  }
  return errorText(err);
}

function passwordInput(testid: string, autocomplete: string): { input: HTMLInputElement; wrap: HTMLElement } {
  const input = h("input", {
    type: "password",
    name: "password",
    required: true,
    autocomplete,
    testid,
  });
  const toggle = h(
    "button",
    {
      type: "button",
      class: "btn btn-ghost btn-sm reveal",
      "aria-pressed": "false",
      onclick: () => {
        const show = input.type === "password";
        input.type = show ? "text" : "password";
        toggle.textContent = show ? "Hide" : "Show";
        toggle.setAttribute("aria-pressed", String(show));
      },
    },
    "Show",
  );
  toggle.setAttribute("aria-label", "Show password");
  return { input, wrap: h("div", { class: "with-button" }, input, toggle) };
}

function labelled(label: string, input: HTMLInputElement, control: HTMLElement, hint?: HTMLElement): HTMLElement {
  input.id = input.id || nextId("f");
  if (hint) {
    hint.id = `${input.id}-hint`;
    input.setAttribute("aria-describedby", hint.id);
  }
  return h("div", { class: "field" }, h("label", { for: input.id }, label), control, hint);
}

export function loginView(root: HTMLElement, app: App): () => void {
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "username", testid: "login-email" });
  const pw = passwordInput("login-password", "current-password");
  const error = msgBox("login-error");
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", testid: "login-submit" }, "Log in");
  const form = h(
    "form",
    { class: "card auth-card", testid: "login-form", "aria-labelledby": "login-title", novalidate: true },
    h("h1", { id: "login-title" }, "Log in"),
    field("Email", email),
    labelled("Password", pw.input, pw.wrap),
    error,
    submit,
    h("p", { class: "muted" }, "No account? ", h("a", { href: "#/register", testid: "login-to-register" }, "Sign up")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    setMessage(error, "");
    if (!email.value.trim() || !pw.input.value) {
      setMessage(error, "Enter your email and password.");
      return;
    }
    submit.disabled = true;
    try {
      await app.api.login(email.value.trim(), pw.input.value);
      location.hash = "#/markets";
    } catch (err) {
      setMessage(error, authError(err, "login"));
      pw.input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  mount(root, h("div", { class: "auth-page" }, form));
  email.focus();
  return () => undefined;
}

export function registerView(root: HTMLElement, app: App): () => void {
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "email", testid: "register-email" });
  const pw = passwordInput("register-password", "new-password");
  const rules = PASSWORD_RULES.map((r) =>
    h("li", { testid: `password-rule-${r.id}`, "data-ok": "false" }, h("span", { class: "tick", "aria-hidden": "true" }), h("span", null, r.label)),
  );
  const ruleStatus = h("span", { class: "sr-only", "aria-live": "polite" });
  const policy = h("ul", { class: "policy", testid: "password-policy", "aria-label": "Password requirements" }, rules);
  const policyBox = h("div", null, h("div", { class: "hint" }, "Password must have:"), policy, ruleStatus);
  const error = msgBox("register-error");
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", testid: "register-submit" }, "Create account");

  pw.input.addEventListener("input", () => {
    const p = pw.input.value;
    let met = 0;
    PASSWORD_RULES.forEach((r, i) => {
      const ok = r.test(p);
      if (ok) met += 1;
      rules[i]?.setAttribute("data-ok", String(ok));
    });
    ruleStatus.textContent = `${met} of ${PASSWORD_RULES.length} password requirements met`;
  });

  const form = h(
    "form",
    { class: "card auth-card", testid: "register-form", "aria-labelledby": "register-title", novalidate: true },
    h("h1", { id: "register-title" }, "Create your account"),
    h("p", { class: "muted" }, "Trade YES/NO contracts from 1¢ to 99¢. Winners pay $1.00."),
    field("Email", email),
    labelled("Password", pw.input, pw.wrap, policyBox),
    error,
    submit,
    h("p", { class: "muted" }, "Already registered? ", h("a", { href: "#/login", testid: "register-to-login" }, "Log in")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    setMessage(error, "");
    const addr = email.value.trim();
    if (!addr) {
      setMessage(error, "Enter an email address.");
      return;
    }
    submit.disabled = true;
    try {
      await app.api.register(addr, pw.input.value);
    } catch (err) {
      setMessage(error, authError(err, "register"));
      submit.disabled = false;
      return;
    }
    try {
      await app.api.login(addr, pw.input.value);
      app.toast("ok", "Account created. Welcome to LFG!");
      location.hash = "#/markets";
    } catch (err) {
      app.toast("info", "Account created. Please log in.");
      location.hash = "#/login";
      void err;
    } finally {
      submit.disabled = false;
    }
  });
  mount(root, h("div", { class: "auth-page" }, form));
  email.focus();
  return () => undefined;
}
