// A modal confirmation built on <dialog>: focus is trapped, Escape cancels, and tests can
// drive it (`confirm-dialog`, `confirm-ok`, `confirm-cancel`) unlike window.confirm.

import { h, type Child } from "../dom";

export function confirmDialog(opts: { title: string; body: Child; confirm: string; danger?: boolean }): Promise<boolean> {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: `btn ${opts.danger ? "btn-danger" : "btn-primary"}`, testid: "confirm-ok" }, opts.confirm);
    const cancel = h("button", { type: "button", class: "btn btn-ghost", testid: "confirm-cancel" }, "Cancel");
    const dlg = h(
      "dialog",
      { class: "dialog card", testid: "confirm-dialog", "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, opts.title),
      h("div", { class: "dialog-body" }, opts.body),
      h("div", { class: "dialog-actions" }, cancel, ok),
    );
    let answered = false;
    const finish = (value: boolean) => {
      if (answered) return;
      answered = true;
      if (dlg.open) dlg.close();
      dlg.remove();
      resolve(value);
    };
    ok.addEventListener("click", () => finish(true));
    cancel.addEventListener("click", () => finish(false));
    dlg.addEventListener("close", () => finish(false));
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus();
  });
}
