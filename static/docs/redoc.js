// /docs/redoc: starts Redoc on the schema and settings the page names (no inline script, so the
// page's Content-Security-Policy needs no nonce).
"use strict";

(() => {
  const container = document.getElementById("redoc-container");
  window.Redoc.init(container.dataset.schemaUrl, JSON.parse(container.dataset.settings), container);
})();
