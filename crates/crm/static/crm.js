// Relais CRM pages: select-all, local times, and the deals board's drag and drop (confirmations
// are the shell's: /static/app.js).
// Everything here also works without this script (forms post normally); it only adds comfort.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-select-all]")) {
    box.addEventListener("change", () => {
      for (const item of document.querySelectorAll('input[name="ids"]')) item.checked = box.checked;
    });
  }
  // datetime-local inputs carry no zone: send the browser's offset so the server stores UTC.
  for (const form of document.querySelectorAll("form[data-local-time]")) {
    form.addEventListener("submit", () => {
      form.querySelector('input[name="tz_offset"]').value = String(new Date().getTimezoneOffset());
    });
  }
  const board = document.getElementById("board");
  if (board) setUpBoard(board);
});

function setUpBoard(board) {
  let dragged = null;
  for (const card of board.querySelectorAll(".deal-card")) {
    card.addEventListener("dragstart", (event) => {
      dragged = card;
      card.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.dataset.deal);
    });
    card.addEventListener("dragend", () => {
      card.classList.remove("dragging");
      dragged = null;
    });
  }
  for (const column of board.querySelectorAll(".board-column")) {
    column.addEventListener("dragover", (event) => {
      event.preventDefault();
      column.classList.add("drop-target");
    });
    column.addEventListener("dragleave", () => column.classList.remove("drop-target"));
    column.addEventListener("drop", async (event) => {
      event.preventDefault();
      column.classList.remove("drop-target");
      const card = dragged;
      if (!card || card.closest(".board-column") === column) return;
      const from = card.closest(".board-column");
      const body = new URLSearchParams({ csrf: board.dataset.csrf, stage_id: column.dataset.stage });
      const response = await fetch(`/crm/deals/${card.dataset.deal}/move`, {
        method: "POST",
        headers: { Accept: "application/json" },
        body,
        credentials: "same-origin",
      });
      if (!response.ok) {
        column.classList.add("drop-refused");
        setTimeout(() => column.classList.remove("drop-refused"), 1500);
        return;
      }
      column.querySelector("[data-dropzone]").prepend(card);
      const select = card.querySelector('select[name="stage_id"]');
      if (select) select.value = column.dataset.stage;
      shift(from, card, -1);
      shift(column, card, 1);
    });
  }
}

// A card moved out of (-1) or into (+1) a column: its count and per-currency totals follow.
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
  column.querySelector(".stage-total").textContent = Object.entries(totals)
    .map(([currency, total]) => formatMoney(Number(total), currency))
    .join(" · ");
}

function formatMoney(amount, currency) {
  try {
    return new Intl.NumberFormat(document.documentElement.lang, { style: "currency", currency }).format(amount);
  } catch {
    return `${amount.toFixed(2)} ${currency}`;
  }
}
