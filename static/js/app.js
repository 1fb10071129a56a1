// Progressive enhancements for the dashboard; every page works without them.
"use strict";

function copyText(input) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(input.value);
  }
  // Plain-HTTP installs (e.g. http://127.0.0.1): the older selection API still works there.
  input.select();
  document.execCommand("copy");
  return Promise.resolve();
}

document.addEventListener("click", (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const input = document.querySelector(copy.dataset.copy);
    copyText(input).then(() => {
      const label = copy.textContent;
      copy.textContent = copy.dataset.copied || "Copied";
      setTimeout(() => { copy.textContent = label; }, 2000);
    });
  }
  const confirmer = event.target.closest("[data-confirm]");
  if (confirmer && !window.confirm(confirmer.dataset.confirm)) {
    event.preventDefault();
  }
});
