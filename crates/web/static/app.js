// Relais, every page: behaviour any module's markup can ask for with an attribute. Everything
// here also works without this script (forms post normally); it only adds comfort and safety.
"use strict";

// `<form data-confirm="Question?">`: asks before submitting. Listening on the document, not on
// each form, so forms that htmx swaps in later (a progress box, a panel) ask too.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm !== undefined) {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }
});
