// Copy buttons: <button data-copy="#target" data-copied="Copied" hidden>.
// The buttons stay hidden without JavaScript (the text can still be selected by hand);
// no inline script or style is needed, so a strict Content-Security-Policy works.
"use strict";

(() => {
  function selectTarget(target) {
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) {
      target.focus();
      target.select();
      return;
    }
    const range = document.createRange();
    range.selectNodeContents(target);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function legacyCopy(target) {
    // Plain-HTTP installs (e.g. http://127.0.0.1) have no Clipboard API.
    selectTarget(target);
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (_error) {
      copied = false;
    }
    return copied ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(target) {
    const text = "value" in target ? target.value : target.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(() => legacyCopy(target));
    }
    return legacyCopy(target);
  }

  function announce(button, text) {
    const original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = text;
    window.setTimeout(() => { button.textContent = original; }, 2000);
  }

  document.querySelectorAll("[data-copy]").forEach((button) => { button.hidden = false; });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const target = document.querySelector(button.dataset.copy);
    if (!target) return;
    copy(target).then(
      () => announce(button, button.dataset.copied || "Copied"),
      () => {
        // Leave the text selected so Ctrl+C / ⌘C finishes the job.
        selectTarget(target);
        announce(button, button.dataset.copyFailed || "Press Ctrl+C");
      },
    );
  });
})();
