// A small hyperscript helper: elements from tag, props and children. No innerHTML with
// data anywhere, so server text can never become markup.

export type Child = Node | string | number | null | undefined | false | readonly Child[];

type Handler = (ev: Event) => void;

export interface Props {
  class?: string;
  testid?: string;
  /** Any other attribute (`aria-*`, `role`, `for`, `type`, ...) or DOM property / `on*` handler. */
  [key: string]: unknown;
}

const PROPERTIES = new Set(["value", "checked", "disabled", "selected", "hidden", "textContent", "indeterminate"]);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) setProps(el, props);
  append(el, children);
  return el;
}

export function setProps(el: HTMLElement, props: Props): void {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) {
      if (value === false && PROPERTIES.has(key)) (el as unknown as Record<string, unknown>)[key] = false;
      continue;
    }
    if (key === "class") el.className = String(value);
    else if (key === "testid") el.dataset["testid"] = String(value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value as Handler);
    } else if (PROPERTIES.has(key)) (el as unknown as Record<string, unknown>)[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

export function append(el: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace all children. */
export function mount(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export function text(el: Element, value: string): void {
  if (el.textContent !== value) el.textContent = value;
}

let uid = 0;
/** A unique id for label/aria wiring. */
export function nextId(prefix: string): string {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: `<label for>` + control + optional hint. */
export function field(label: string, control: HTMLElement, hint?: Child): HTMLDivElement {
  if (!control.id) control.id = nextId("f");
  const hintEl = hint ? h("div", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

/** Show or clear a form message. */
export function setMessage(el: HTMLElement, message: string, kind: "error" | "ok" | "info" = "error"): void {
  el.textContent = message;
  el.className = message ? `msg msg-${kind}` : "msg";
  el.hidden = !message;
}

export function msgBox(testid: string, role: "alert" | "status" = "alert"): HTMLDivElement {
  const el = h("div", { class: "msg", testid, role, "aria-live": role === "alert" ? "assertive" : "polite" });
  el.hidden = true;
  return el;
}
