// Relais CRM pages: the lists' selection bar, row links and "load more"; local times; the deals
// board's drag and drop and "Move to…" menu (confirmations of data-confirm forms are the shell's:
// /static/app.js).
// Everything here also works without this script (links and forms post normally); it only adds comfort.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const bulk = document.getElementById("bulk-form");
  if (bulk) setUpList(bulk);
  // datetime-local inputs carry no zone: send the browser's offset so the server stores UTC.
  for (const form of document.querySelectorAll("form[data-local-time]")) {
    form.addEventListener("submit", () => {
      form.querySelector('input[name="tz_offset"]').value = String(new Date().getTimezoneOffset());
    });
  }
  const board = document.getElementById("board");
  if (board) setUpBoard(board);
});

// A list: the bulk bar shows only while rows are selected (without script it always shows),
// "select all" ticks the page, a click anywhere on a row opens its record, "load more" appends.
function setUpList(form) {
  const bar = form.querySelector("[data-bulk-bar]");
  const boxes = () => [...form.querySelectorAll('input[name="ids"]')];
  const selectAll = form.querySelector("[data-select-all]");
  const count = document.getElementById("selected-count");
  const refresh = () => {
    const ticked = boxes().filter((box) => box.checked).length;
    if (bar) bar.hidden = ticked === 0;
    if (count) count.textContent = count.dataset.selectedText.replace("{count}", String(ticked));
    if (selectAll) {
      selectAll.checked = ticked > 0 && ticked === boxes().length;
      selectAll.indeterminate = ticked > 0 && ticked < boxes().length;
    }
  };
  // With the script the count is asked in a dialog: the typed-count field is for no-script use.
  for (const field of form.querySelectorAll("[data-no-js]")) field.hidden = true;
  form.addEventListener("change", (event) => {
    if (event.target === selectAll) for (const box of boxes()) box.checked = selectAll.checked;
    refresh();
  });
  const remove = document.getElementById("bulk-delete");
  if (remove) {
    remove.addEventListener("click", (event) => {
      const ticked = String(boxes().filter((box) => box.checked).length);
      if (!window.confirm(remove.dataset.confirmCount.replace("{count}", ticked))) {
        event.preventDefault();
        return;
      }
      form.querySelector('input[name="confirm"]').value = ticked;
    });
  }
  form.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-href]");
    if (!row || event.target.closest("a, button, input, select, label, textarea")) return;
    if (window.getSelection && String(window.getSelection()).length > 0) return;
    window.location.assign(row.dataset.href);
  });
  setUpLoadMore(form, refresh);
  refresh();
}

// "Load more" fetches the next keyset page and appends its rows here; the link then points on.
function setUpLoadMore(form, refresh) {
  const more = document.getElementById("next-page");
  if (!more) return;
  more.addEventListener("click", async (event) => {
    event.preventDefault();
    more.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(more.href, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const next = new DOMParser().parseFromString(await response.text(), "text/html");
      const body = form.querySelector("#records tbody");
      for (const row of next.querySelectorAll("#records tbody tr")) body.append(document.adoptNode(row));
      const after = next.getElementById("next-page");
      if (after) {
        more.href = after.href;
        more.removeAttribute("aria-busy");
      } else {
        more.closest(".load-more").remove();
      }
      refresh();
    } catch {
      window.location.assign(more.href);
    }
  });
}

function setUpBoard(board) {
  const message = document.getElementById("board-message");
  const live = document.getElementById("board-live");
  let dragged = null;

  // Posts the move; on success the card goes to its new column, on refusal it stays and says so.
  async function move(card, column) {
    const from = card.closest(".board-column");
    if (from === column) return;
    message.hidden = true;
    card.classList.add("moving");
    let ok = false;
    try {
      const body = new URLSearchParams({ csrf: board.dataset.csrf, stage_id: column.dataset.stage });
      const response = await fetch(`/crm/deals/${card.dataset.deal}/move`, {
        method: "POST",
        headers: { Accept: "application/json" },
        body,
        credentials: "same-origin",
      });
      ok = response.ok;
    } catch {
      ok = false;
    }
    card.classList.remove("moving");
    if (!ok) {
      column.classList.add("drop-refused");
      setTimeout(() => column.classList.remove("drop-refused"), 1500);
      message.textContent = message.dataset.moveFailed;
      message.hidden = false;
      return;
    }
    column.querySelector("[data-dropzone]").prepend(card);
    rebuildMenu(card, column);
    shift(from, card, -1);
    shift(column, card, 1);
    const name = card.querySelector(".deal-name").textContent;
    live.textContent = live.dataset.moved.replace("{name}", name).replace("{stage}", column.dataset.stageName);
  }

  board.addEventListener("dragstart", (event) => {
    const card = event.target.closest && event.target.closest(".deal-card");
    if (!card || card.getAttribute("draggable") !== "true") return;
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.deal);
  });
  board.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
  });
  for (const column of board.querySelectorAll(".board-column")) {
    column.addEventListener("dragover", (event) => {
      if (!dragged) return;
      event.preventDefault();
      column.classList.add("drop-target");
    });
    column.addEventListener("dragleave", (event) => {
      if (!column.contains(event.relatedTarget)) column.classList.remove("drop-target");
    });
    column.addEventListener("drop", (event) => {
      event.preventDefault();
      column.classList.remove("drop-target");
      const card = dragged;
      dragged = null;
      if (card) move(card, column);
    });
  }
  // The "Move to…" menu: the same move without dragging (keyboard, touch).
  board.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.classList.contains("move-form") || !event.submitter) return;
    event.preventDefault();
    const card = form.closest(".deal-card");
    const column = board.querySelector(`.board-column[data-stage='${event.submitter.value}']`);
    form.closest("details").open = false;
    if (column) {
      move(card, column).then(() => card.querySelector("summary").focus());
    }
  });
}

// After a move the card's menu offers every stage but the one it is now in.
function rebuildMenu(card, column) {
  for (const button of card.querySelectorAll(".move-form button[name='stage_id']")) button.remove();
  const form = card.querySelector(".move-form");
  if (!form) return;
  for (const other of document.querySelectorAll(".board-column")) {
    if (other === column) continue;
    const button = document.createElement("button");
    button.type = "submit";
    button.name = "stage_id";
    button.value = other.dataset.stage;
    button.className = "link";
    button.textContent = other.dataset.stageName;
    form.append(button);
  }
}

// A card moved out of (-1) or into (+1) a column: its count, totals and weighted totals follow.
function shift(column, card, sign) {
  const counter = column.querySelector("[data-count]");
  counter.textContent = String(Number(counter.textContent) + sign);
  const totals = JSON.parse(column.dataset.totals || "{}");
  const amount = Number(card.dataset.amount);
  if (card.dataset.amount && !Number.isNaN(amount)) {
    const currency = card.dataset.currency;
    totals[currency] = (Number(totals[currency] || 0) + sign * amount).toFixed(2);
  }
  column.dataset.totals = JSON.stringify(totals);
  const probability = Number(column.dataset.probability || 0);
  const entries = Object.entries(totals);
  column.querySelector(".stage-total").textContent =
    entries.map(([currency, total]) => formatMoney(Number(total), currency)).join(" · ") || "—";
  column.querySelector(".stage-weighted").textContent =
    entries.map(([currency, total]) => formatMoney((Number(total) * probability) / 100, currency)).join(" · ") ||
    "—";
}

function formatMoney(amount, currency) {
  try {
    return new Intl.NumberFormat(document.documentElement.lang, { style: "currency", currency }).format(amount);
  } catch {
    return `${amount.toFixed(2)} ${currency}`;
  }
}
