// Relais record page: inline editing comforts and the conversion dialog. htmx does the swapping;
// without this script (or htmx) every field is edited on the "Edit all fields" page and the
// conversion dialog opens through its link (`?convert=1`).
"use strict";

(() => {
  const editing = (node) => node instanceof Element && node.closest("form[data-inline-edit]");

  // A refused value comes back as 422 with the field and its message: show it in place.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 422 && editing(event.detail.target)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Leaving a field saves it — unless focus moves to its own buttons, or it is already going away.
  document.addEventListener("focusout", (event) => {
    const form = editing(event.target);
    if (!form || form.dataset.done) return;
    if (event.relatedTarget && form.contains(event.relatedTarget)) return;
    form.dataset.done = "1";
    form.requestSubmit();
  });

  // A choice in a select or a checkbox is a decision: save it at once.
  document.addEventListener("change", (event) => {
    const form = editing(event.target);
    if (!form || form.dataset.done) return;
    if (event.target.matches("select:not([multiple]), input[type=checkbox]")) {
      form.dataset.done = "1";
      form.requestSubmit();
    }
  });

  document.addEventListener("submit", (event) => {
    const form = editing(event.target);
    if (form) form.dataset.done = "1";
  });

  // Escape gives the field back unchanged.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const form = editing(event.target);
    if (!form) return;
    event.preventDefault();
    form.dataset.done = "1";
    const cancel = form.querySelector("[data-cancel]");
    if (cancel) cancel.click();
  });

  // Back to reading: focus the field's pencil so the keyboard stays where it was.
  document.addEventListener("htmx:afterSwap", (event) => {
    const swapped = event.detail.elt;
    if (!(swapped instanceof Element) || !swapped.id) return;
    const field = document.getElementById(swapped.id);
    if (field && field.matches("div.detail-field") && event.detail.requestConfig.verb !== "get") {
      const pencil = field.querySelector(".field-edit");
      if (pencil) pencil.focus();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    for (const opener of document.querySelectorAll("[data-open-dialog]")) {
      const dialog = document.getElementById(opener.dataset.openDialog);
      if (!dialog || typeof dialog.showModal !== "function") continue;
      opener.addEventListener("click", (event) => {
        event.preventDefault();
        dialog.showModal();
      });
    }
    // Rendered open (after an error): make it modal, with the focus inside.
    for (const dialog of document.querySelectorAll("dialog[data-show-modal][open]")) {
      if (typeof dialog.showModal !== "function") continue;
      dialog.close();
      dialog.showModal();
      const invalid = dialog.querySelector("[aria-invalid=true]");
      if (invalid) invalid.focus();
    }
  });
})();
