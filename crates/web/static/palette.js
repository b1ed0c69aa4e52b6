// Relais, every signed-in page: the command palette (Ctrl-K / Cmd-K, or any element with
// `data-palette-open`) and the keyboard shortcuts listed in the `?` help. The layout draws both
// dialogs; the results come from `GET /palette?q=` as an HTML fragment that htmx swaps into the
// listbox (debounced by the input's `hx-trigger`). The `g <letter>` destinations are read from the
// help dialog, so this file names no page.
"use strict";

(() => {
  const palette = document.getElementById("palette");
  const help = document.getElementById("shortcuts");
  if (!(palette instanceof HTMLDialogElement) || !(help instanceof HTMLDialogElement)) return;
  const input = document.getElementById("palette-input");
  const listbox = document.getElementById("palette-listbox");
  if (!(input instanceof HTMLInputElement) || !listbox) return;

  // Apple keyboards say ⌘ where others say Ctrl.
  const mac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
  if (mac) document.querySelectorAll("[data-palette-mod]").forEach((kbd) => (kbd.textContent = "⌘"));

  // Focus goes back where it was when a dialog closes (the trigger, the field being typed in).
  let returnTo = null;
  const open = (dialog) => {
    if (dialog.open) return;
    for (const other of [palette, help]) if (other.open) other.close();
    returnTo = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog.showModal();
  };
  for (const dialog of [palette, help]) {
    dialog.addEventListener("close", () => {
      if (returnTo && returnTo.isConnected) returnTo.focus();
      returnTo = null;
    });
    // A click on the backdrop (the dialog element itself, outside its content) closes it.
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();
    });
  }

  const openPalette = () => {
    open(palette);
    input.select();
    // Loads what an empty (or the kept) query offers: pages and actions at once.
    input.dispatchEvent(new Event("palette-load"));
  };

  const options = () => Array.from(listbox.querySelectorAll('[role="option"]'));
  const active = () => {
    const id = input.getAttribute("aria-activedescendant");
    return id ? document.getElementById(id) : null;
  };
  const activate = (option) => {
    for (const o of options()) o.setAttribute("aria-selected", o === option ? "true" : "false");
    if (option) {
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };
  const move = (step) => {
    const all = options();
    if (all.length === 0) return;
    const index = all.indexOf(active());
    const next = index < 0 ? (step > 0 ? 0 : all.length - 1) : (index + step + all.length) % all.length;
    activate(all[next]);
  };

  // New results: the first one is active, so Enter opens the best match.
  listbox.addEventListener("htmx:afterSwap", () => activate(options()[0] || null));

  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      move(1);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      move(-1);
    } else if (event.key === "Home" && event.ctrlKey) {
      event.preventDefault();
      activate(options()[0] || null);
    } else if (event.key === "Enter") {
      event.preventDefault();
      const option = active() || options()[0];
      if (option instanceof HTMLAnchorElement) window.location.assign(option.href);
    }
  });
  listbox.addEventListener("mousemove", (event) => {
    const option = event.target instanceof Element ? event.target.closest('[role="option"]') : null;
    if (option && option !== active()) activate(option);
  });

  document.addEventListener("click", (event) => {
    const trigger = event.target instanceof Element ? event.target.closest("[data-palette-open]") : null;
    if (trigger) {
      event.preventDefault();
      openPalette();
    }
  });

  // Whether the key is being typed into something: shortcut letters must not fire there.
  const typing = (target) =>
    target instanceof HTMLElement &&
    (target.isContentEditable || target.closest("input, textarea, select, [contenteditable]") !== null);

  const goTo = (letter) => {
    const row = help.querySelector(`[data-go="${CSS.escape(letter)}"]`);
    if (row && row.dataset.href) window.location.assign(row.dataset.href);
  };

  // The page's own search or filter box, else the palette.
  const focusSearch = () => {
    const box = document.querySelector(
      'main input[type="search"], main [data-shortcut-search], main .filter-bar input[type="text"], main input[name="q"]',
    );
    if (box instanceof HTMLElement) {
      box.focus();
      if (box instanceof HTMLInputElement) box.select();
    } else {
      openPalette();
    }
  };

  let pendingG = 0;
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      if (palette.open) palette.close();
      else openPalette();
      return;
    }
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || palette.open) return;
    if (event.key === "?") {
      event.preventDefault();
      if (help.open) help.close();
      else open(help);
      return;
    }
    if (help.open) return;
    if (event.key === "/") {
      event.preventDefault();
      focusSearch();
      return;
    }
    // `g` then a letter within a second and a half.
    if (pendingG && Date.now() - pendingG < 1500 && event.key.length === 1) {
      pendingG = 0;
      event.preventDefault();
      goTo(event.key.toLowerCase());
      return;
    }
    pendingG = event.key === "g" ? Date.now() : 0;
  });
})();
