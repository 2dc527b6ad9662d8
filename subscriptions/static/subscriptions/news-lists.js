// Newsletter forms: a list's groups show only while the list is ticked, and ticking one of
// its groups ticks the list. Without this script every group shows and the server applies
// the same rule, so the form works either way.
(function () {
  "use strict";

  function isChosen(input) {
    return input.tagName === "SELECT" ? input.value !== "" : input.checked;
  }

  function setUp(row) {
    var list = row.querySelector("label.news-check input[type=checkbox]");
    var groups = row.querySelector("[data-news-groups]");
    if (!list || !groups) {
      return;
    }
    var inputs = Array.prototype.slice.call(groups.querySelectorAll("input, select"));

    function show(fillDefaults) {
      groups.hidden = !list.checked;
      // A hidden group is not sent: unticking a list leaves it, whatever its groups said.
      inputs.forEach(function (input) { input.disabled = !list.checked; });
      if (list.checked && fillDefaults && !inputs.some(isChosen)) {
        groups.querySelectorAll("[data-news-default]").forEach(function (choice) {
          if (choice.tagName === "OPTION") {
            choice.selected = true;
          } else {
            choice.checked = true;
          }
        });
      }
    }

    list.addEventListener("change", function () { show(true); });
    groups.addEventListener("change", function (event) {
      if (!list.checked && isChosen(event.target)) {
        list.checked = true;
        show(false);
      }
    });
    show(false);
  }

  document.querySelectorAll("[data-news-row]").forEach(setUp);
})();
