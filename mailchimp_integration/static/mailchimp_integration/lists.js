// Mailchimp lists page: each toggle is saved in place with a CSRF-protected JSON POST.
// Names come from Mailchimp: this script only ever sets textContent, never HTML.
(function () {
  "use strict";
  const root = document.querySelector(".mc-lists");
  if (!root) return;
  const flash = document.getElementById("mc-flash");
  const token = root.querySelector("input[name=csrfmiddlewaretoken]").value;

  function say(text, isError) {
    flash.textContent = text;
    flash.classList.toggle("mc-error", Boolean(isError));
  }

  function setSwitchText(input) {
    const text = input.closest(".mc-switch");
    if (text) text.querySelector(".mc-switch-text").textContent = input.checked ? "ON" : "OFF";
  }

  // An inactive audience's groups are greyed out and locked until it is switched on.
  function setAudienceActive(tbody, active) {
    tbody.classList.toggle("is-inactive", !active);
    tbody.querySelectorAll("input[data-kind=interest]").forEach((input) => {
      input.disabled = !active || input.hasAttribute("data-removed");
    });
  }

  root.addEventListener("change", (event) => {
    const input = event.target;
    if (!input.matches("input[type=checkbox][data-kind]")) return;
    const wanted = input.checked;
    const tbody = input.closest("tbody");
    input.disabled = true;
    input.setAttribute("aria-busy", "true");
    fetch(root.dataset.flagsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": token,
      },
      body: JSON.stringify({
        kind: input.dataset.kind,
        id: Number(input.dataset.id),
        field: input.dataset.field,
        value: wanted,
      }),
    })
      .then((response) => response.json().then((data) => ({ response, data })))
      .then(({ response, data }) => {
        if (!response.ok) {
          throw new Error(typeof data.error === "string" ? data.error : response.statusText);
        }
        input.checked = data[input.dataset.field];
        setSwitchText(input);
        if (input.dataset.kind === "audience" && input.dataset.field === "active") {
          setAudienceActive(tbody, data.active);
        }
        say("Saved.", false);
      })
      .catch((error) => {
        input.checked = !wanted;
        setSwitchText(input);
        say("Not saved: " + error.message, true);
      })
      .finally(() => {
        input.removeAttribute("aria-busy");
        const lockedGroup = input.dataset.kind === "interest" && tbody.classList.contains("is-inactive");
        input.disabled = lockedGroup || input.hasAttribute("data-removed");
      });
  });
})();
