// /docs: code tabs (curl / Python / JavaScript) and the example-prompt language (中文 / English).
// Without JavaScript every example shows, labelled; with it, one language at a time, remembered.
"use strict";

(() => {
  const storage = {
    get(key) {
      try { return window.localStorage.getItem(key); } catch (_error) { return null; }
    },
    set(key, value) {
      try { window.localStorage.setItem(key, value); } catch (_error) { /* private mode */ }
    },
  };
  const tabGroups = [...document.querySelectorAll("[data-tabs]")];

  function selectLanguage(group, language, focus) {
    const tabs = [...group.querySelectorAll("[role=tab]")];
    const chosen = tabs.find((tab) => tab.dataset.language === language) || tabs[0];
    tabs.forEach((tab) => {
      const selected = tab === chosen;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !selected;
    });
    if (focus) chosen.focus();
  }

  function selectEverywhere(language) {
    storage.set("nb-docs-code", language);
    tabGroups.forEach((group) => selectLanguage(group, language, false));
  }

  tabGroups.forEach((group) => {
    const list = group.querySelector("[role=tablist]");
    const tabs = [...list.querySelectorAll("[role=tab]")];
    list.hidden = false;
    group.classList.add("js");
    tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => selectEverywhere(tab.dataset.language));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        event.preventDefault();
        const next = tabs[(index + step + tabs.length) % tabs.length];
        selectLanguage(group, next.dataset.language, true);
        storage.set("nb-docs-code", next.dataset.language);
      });
    });
    selectLanguage(group, storage.get("nb-docs-code") || "curl", false);
  });

  const root = document.querySelector("[data-default-prompt]");
  const switcher = document.querySelector("[data-prompt-switch]");
  if (!root || !switcher) return;
  const choices = [...switcher.querySelectorAll("[data-prompt-choice]")];

  function showPrompts(language) {
    document.querySelectorAll("[data-prompt]").forEach((snippet) => {
      snippet.hidden = snippet.dataset.prompt !== language;
    });
    choices.forEach((choice) => {
      choice.setAttribute("aria-pressed", String(choice.dataset.promptChoice === language));
    });
  }

  choices.forEach((choice) => {
    choice.addEventListener("click", () => {
      storage.set("nb-docs-prompt", choice.dataset.promptChoice);
      showPrompts(choice.dataset.promptChoice);
    });
  });
  switcher.hidden = false;
  showPrompts(storage.get("nb-docs-prompt") || root.dataset.defaultPrompt);
})();
