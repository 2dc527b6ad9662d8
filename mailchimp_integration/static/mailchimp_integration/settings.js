// Settings page: "Update Mailchimp Lists" queues a sync in a worker and shows its progress,
// polling a small JSON view; the page is never blocked. Text only (textContent), no HTML.
(function () {
  "use strict";
  const section = document.getElementById("mc-sync");
  const form = document.getElementById("mc-sync-form");
  if (!section) return;
  const statusLine = document.getElementById("mc-sync-status");
  const bar = document.getElementById("mc-sync-progress");
  const button = document.getElementById("mc-sync-button");

  function csrfToken() {
    const input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function show(run) {
    statusLine.dataset.state = run.state;
    if (run.finished) {
      bar.hidden = true;
      statusLine.textContent = (run.state === "succeeded" ? "Done. " : "") + run.summary;
      if (button) button.disabled = false;
      return;
    }
    bar.hidden = false;
    bar.max = Math.max(run.progress_total, 1);
    bar.value = run.progress_done;
    if (run.state === "queued") {
      statusLine.textContent = "Queued: waiting for a worker…";
    } else if (run.progress_total > 0) {
      statusLine.textContent = `Importing the lists: step ${run.progress_done} of ${run.progress_total}…`;
    } else {
      statusLine.textContent = "Importing the lists…";
    }
  }

  function poll(url) {
    if (button) button.disabled = true;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => response.json())
      .then((data) => {
        if (!data.run) throw new Error(data.error || "No such sync");
        show(data.run);
        if (!data.run.finished) setTimeout(() => poll(url), 700);
      })
      .catch((error) => {
        statusLine.textContent = "Could not read the sync's progress: " + error.message;
        if (button) button.disabled = false;
      });
  }

  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      button.disabled = true;
      statusLine.textContent = "Queuing the sync…";
      fetch(section.dataset.syncUrl, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
      })
        .then((response) => response.json().then((data) => ({ response, data })))
        .then(({ response, data }) => {
          if (!response.ok) throw new Error(data.error || response.statusText);
          show(data.run);
          poll(data.status_url);
        })
        .catch((error) => {
          statusLine.textContent = "The sync could not be started: " + error.message;
          button.disabled = false;
        });
    });
  }
  if (section.dataset.activeRun) poll(section.dataset.activeRun);
})();

// "Save key" and "Test connection" are checked by a worker: while the check waits or runs,
// poll its state and show the result in place. A saved key reloads the page (masked key,
// account name and the list import it started).
(function () {
  "use strict";
  const line = document.getElementById("mc-check-status");
  if (!line || !line.dataset.statusUrl) return;
  const buttons = document.querySelectorAll("#mc-key-form button[type=submit]");
  buttons.forEach((button) => { button.disabled = true; });

  function show(check) {
    line.dataset.state = check.state;
    if (check.finished) {
      buttons.forEach((button) => { button.disabled = false; });
      if (check.purpose === "save" && check.ok) {
        window.location.reload();
        return;
      }
      line.textContent = check.message;
      return;
    }
    line.textContent = check.state === "queued" && check.waiting_seconds > 20
      ? "Waiting for a worker to check the key… (is the Celery worker running?)"
      : "Checking with Mailchimp…";
  }

  function poll() {
    fetch(line.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => response.json())
      .then((data) => {
        if (!data.check) throw new Error(data.error || "No such check");
        show(data.check);
        if (!data.check.finished) setTimeout(poll, 700);
      })
      .catch((error) => {
        line.textContent = "Could not read the check's progress: " + error.message;
        buttons.forEach((button) => { button.disabled = false; });
      });
  }
  poll();
})();
