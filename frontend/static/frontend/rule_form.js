/* Rule form: show only the fields of the chosen rule kind. A static file, so a strict
   Content-Security-Policy (no inline script) allows it; without it both groups show. */
(function () {
  "use strict";
  function update(form) {
    var kind = form.querySelector("select[name=kind]");
    if (!kind) return;
    form.querySelectorAll("fieldset[data-kind]").forEach(function (group) {
      var shown = group.dataset.kind === kind.value;
      group.hidden = !shown;
      // Hidden fields are not sent: a budget rule never carries stale anomaly settings.
      group.querySelectorAll("input, select, textarea").forEach(function (input) { input.disabled = !shown; });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-rule-form]").forEach(function (form) {
      var kind = form.querySelector("select[name=kind]");
      if (!kind) return;
      kind.addEventListener("change", function () { update(form); });
      update(form);
    });
  });
})();
