// Progressive enhancements for the dashboard; every page works without them.
"use strict";

// <button data-confirm="Really?">: ask before submitting its form (no inline onclick needed).
document.addEventListener("click", (event) => {
  const confirmer = event.target.closest("[data-confirm]");
  if (confirmer && !window.confirm(confirmer.dataset.confirm)) {
    event.preventDefault();
  }
});

// <select data-autosubmit>: submit its form on change (the form's button does it without JS).
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select) select.form.requestSubmit();
});
