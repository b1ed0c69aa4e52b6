// Relais, every page: behaviour any module's markup can ask for with an attribute. Everything
// here also works without this script (forms post normally); it only adds comfort and safety.
"use strict";

// The stylesheet keeps the sidebar in the page when this script does not run (no drawer then).
document.documentElement.classList.add("js");

// `<form data-confirm="Question?">`: asks before submitting. Listening on the document, not on
// each form, so forms that htmx swaps in later (a progress box, a panel) ask too.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm !== undefined) {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }
});

// ---------------------------------------------------------------- shell: sidebar and drawer

const SIDEBAR_KEY = "relais.sidebar";
const phone = window.matchMedia("(max-width: 48rem)");

function storedSidebar() {
  try {
    return window.localStorage.getItem(SIDEBAR_KEY);
  } catch {
    return null; // storage refused (private mode): the sidebar simply starts open
  }
}

// Desktop: `[data-sidebar-collapse]` folds the sidebar to its marks; the choice is remembered.
function setCollapsed(collapsed, remember) {
  document.body.classList.toggle("sidebar-collapsed", collapsed);
  for (const button of document.querySelectorAll("[data-sidebar-collapse]")) {
    button.setAttribute("aria-expanded", String(!collapsed));
  }
  if (remember) {
    try {
      window.localStorage.setItem(SIDEBAR_KEY, collapsed ? "collapsed" : "open");
    } catch {
      // not remembered: nothing else to do
    }
  }
}

// Phones: `[data-drawer-toggle]` opens the sidebar as a drawer over the page.
function setDrawer(open) {
  const sidebar = document.getElementById("sidebar");
  const backdrop = document.querySelector(".drawer-backdrop");
  const toggle = document.querySelector("[data-drawer-toggle]");
  if (!sidebar || !toggle) return;
  document.body.classList.add("drawer-animate");
  document.body.classList.toggle("drawer-open", open);
  toggle.setAttribute("aria-expanded", String(open));
  if (backdrop) backdrop.hidden = !open;
  if (open) {
    const first = sidebar.querySelector("a, button");
    if (first) first.focus();
  } else if (sidebar.contains(document.activeElement)) {
    toggle.focus();
  }
}

function drawerOpen() {
  return document.body.classList.contains("drawer-open");
}

document.addEventListener("DOMContentLoaded", () => {
  if (storedSidebar() === "collapsed") setCollapsed(true, false);
  showToasts();
});

phone.addEventListener("change", () => {
  if (!phone.matches && drawerOpen()) setDrawer(false);
});

// ---------------------------------------------------------------- toasts

// The layout renders the waiting toast inside its `aria-live` region. A region's content present
// at load is not announced, so it is put back a moment later; then a confirmation hides itself
// after a while (kept in the region for screen readers), an error stays until dismissed.
const TOAST_VISIBLE_MS = 6000;

function showToasts() {
  const region = document.querySelector(".toast-region");
  if (!region) return;
  const toasts = Array.from(region.querySelectorAll(".toast"));
  if (toasts.length === 0) return;
  for (const toast of toasts) toast.remove();
  window.setTimeout(() => {
    for (const toast of toasts) {
      region.append(toast);
      if (toast.dataset.toastSticky === undefined) scheduleHide(toast);
    }
  }, 150);
}

function scheduleHide(toast) {
  const hide = () => {
    // Not while the pointer or the keyboard is on it: the reader is still reading.
    if (toast.matches(":hover") || toast.contains(document.activeElement)) {
      window.setTimeout(hide, 1000);
    } else {
      toast.classList.add("is-hidden");
    }
  };
  window.setTimeout(hide, TOAST_VISIBLE_MS);
}

// ---------------------------------------------------------------- clicks and keys

document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) return;

  const collapse = target.closest("[data-sidebar-collapse]");
  if (collapse) {
    setCollapsed(!document.body.classList.contains("sidebar-collapsed"), true);
    return;
  }
  if (target.closest("[data-drawer-toggle]")) {
    setDrawer(!drawerOpen());
    return;
  }
  if (target.closest("[data-drawer-close]")) {
    setDrawer(false);
    return;
  }

  const dismiss = target.closest("[data-toast-dismiss]");
  if (dismiss) {
    const toast = dismiss.closest(".toast");
    if (toast) toast.remove();
    return;
  }

  // `<button data-modal-open="id">` opens `<dialog class="modal|slide-over" id="id">`;
  // `[data-modal-close]` inside closes it, and so does a click on its backdrop.
  const opener = target.closest("[data-modal-open]");
  if (opener) {
    const dialog = document.getElementById(opener.getAttribute("data-modal-open") || "");
    if (dialog instanceof HTMLDialogElement && !dialog.open) dialog.showModal();
    return;
  }
  const closer = target.closest("[data-modal-close]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) dialog.close();
    return;
  }
  if (target instanceof HTMLDialogElement && target.open && target.matches(".modal, .slide-over")) {
    const box = target.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) target.close();
  }

  // A click outside an open profile menu closes it.
  for (const menu of document.querySelectorAll("details.profile-menu[open]")) {
    if (!menu.contains(target)) menu.open = false;
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (drawerOpen()) {
    setDrawer(false);
    return;
  }
  for (const menu of document.querySelectorAll("details.profile-menu[open]")) {
    menu.open = false;
    const summary = menu.querySelector("summary");
    if (summary) summary.focus();
  }
});

// ---------------------------------------------------------------- htmx swaps

// While htmx replaces a region, the region says so (aria-busy) and the stylesheet shows a
// shimmer over it; screen readers wait for the new content.
document.addEventListener("htmx:beforeRequest", (event) => {
  const target = event.detail && event.detail.target;
  if (target instanceof Element) target.setAttribute("aria-busy", "true");
});
document.addEventListener("htmx:afterRequest", (event) => {
  const target = event.detail && event.detail.target;
  if (target instanceof Element) target.removeAttribute("aria-busy");
});
