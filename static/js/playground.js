// The playground's live progress: poll the task (or batch) while it runs, move the progress
// bars, and reload once it has finished so the page shows the result. Without JavaScript the
// page offers a refresh link.
"use strict";

(() => {
  const section = document.querySelector("#playground-result[data-polling]");
  if (!section) return;
  const url = section.dataset.statusUrl;
  const tasksOf = (body) => (body.tasks ? body.tasks : [body]);
  const finished = new Set(["completed", "failed", "cancelled"]);

  async function poll() {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      const tasks = tasksOf(await answer.json());
      for (const task of tasks) {
        const item = document.getElementById(`item-${task.task_id}`);
        if (!item) continue;
        const bar = item.querySelector("[data-progress]");
        if (bar && typeof task.progress === "number") {
          bar.value = task.progress;
          bar.textContent = `${task.progress}%`;
        }
        const status = item.querySelector("[data-status]");
        if (status) status.textContent = task.status;
      }
      if (tasks.every((task) => finished.has(task.status))) {
        window.location.reload();
        return;
      }
    } catch (error) {
      console.warn("progress poll failed", error);
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 500);
})();
