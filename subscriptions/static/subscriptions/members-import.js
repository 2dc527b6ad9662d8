// Mailchimp lists page: "Import members from Mailchimp" queues an import per switched-on list
// in the worker, then follows each run's progress until it finishes. Only textContent is set.
(function () {
  "use strict";
  const section = document.getElementById("mc-members-import");
  if (!section) return;
  const button = document.getElementById("mc-import-members");
  const flash = document.getElementById("mc-import-flash");
  const tokenInput = document.querySelector("input[name=csrfmiddlewaretoken]");
  let timer = null;

  function say(text, isError) {
    flash.textContent = text;
    flash.classList.toggle("mc-error", Boolean(isError));
  }

  function show(run) {
    const item = section.querySelector(`li[data-audience-id="${run.audience_id}"]`);
    if (!item) return;
    item.dataset.runId = String(run.id);
    item.dataset.finished = run.finished ? "1" : "";
    const text = item.querySelector(".mc-import-text");
    text.textContent = run.text;
    text.classList.toggle("mc-error", run.failed);
  }

  function unfinished() {
    return Array.from(section.querySelectorAll("li[data-run-id]"))
      .filter((item) => !item.dataset.finished)
      .map((item) => item.dataset.runId);
  }

  function poll() {
    const ids = unfinished();
    if (!ids.length) {
      timer = null;
      if (button) button.disabled = false;
      return;
    }
    const query = ids.map((id) => `id=${encodeURIComponent(id)}`).join("&");
    fetch(`${section.dataset.runsUrl}?${query}`, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    })
      .then((response) => response.json().then((data) => ({ response, data })))
      .then(({ response, data }) => {
        if (!response.ok) throw new Error(data.error || response.statusText);
        data.runs.forEach(show);
        if (!unfinished().length) say("The import has finished.", false);
      })
      .catch((error) => say(`Could not read the import's progress: ${error.message}`, true))
      .finally(() => { timer = window.setTimeout(poll, 1000); });
  }

  function follow() {
    if (timer === null) timer = window.setTimeout(poll, 500);
  }

  if (button) {
    button.addEventListener("click", () => {
      button.disabled = true;
      say("Queuing the import…", false);
      fetch(section.dataset.importUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": tokenInput ? tokenInput.value : "" },
      })
        .then((response) => response.json().then((data) => ({ response, data })))
        .then(({ response, data }) => {
          if (!response.ok) throw new Error(data.error || response.statusText);
          data.runs.forEach(show);
          say("Importing in the background: you may leave this page.", false);
          follow();
        })
        .catch((error) => {
          button.disabled = false;
          say(`Nothing was imported: ${error.message}`, true);
        });
    });
  }
  if (unfinished().length) {
    if (button) button.disabled = true;
    follow();
  }
})();
