/* Small progressive enhancements; every page works without them. */
(function () {
  "use strict";
  var charts = new WeakMap();

  function money(value) {
    if (value === 0) return "$0";
    if (Math.abs(value) < 0.01) return "$" + value.toPrecision(3);
    return "$" + value.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  // Axis labels: ticks are multiples of one "nice" step (1, 2, 2.5 or 5 × 10^n), so showing the
  // step's own decimals (at least 2 below a dollar) makes every label unique and exact.
  function axisMoney(value, index, ticks) {
    var step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : Math.abs(value);
    var text = step.toFixed(10).replace(/0+$/, "");
    var decimals = text.indexOf(".") >= 0 ? text.length - text.indexOf(".") - 1 : 0;
    if (step < 1 && decimals < 2) decimals = 2;
    var sign = value < 0 ? "-" : "";
    return sign + "$" + Math.abs(value).toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  }

  function drawCharts(root) {
    if (!window.Chart) return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (charts.has(canvas)) return;
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var stacked = canvas.dataset.stacked === "true";
      charts.set(canvas, new window.Chart(canvas, {
        type: "bar",
        data: data,
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          interaction: { mode: "index", intersect: false },
          plugins: {
            legend: { display: data.datasets.length > 1, position: "bottom", labels: { boxWidth: 12 } },
            tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + money(ctx.parsed.y); } } }
          },
          scales: {
            x: { stacked: stacked, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
            y: { stacked: stacked, beginAtZero: true, ticks: { callback: axisMoney } }
          }
        }
      }));
    });
  }

  function enhance(root) {
    drawCharts(root);
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = document.querySelector(button.dataset.copy);
        input.select();
        if (navigator.clipboard) { navigator.clipboard.writeText(input.value); }
        button.textContent = "Copied";
      });
    });
    root.querySelectorAll("[data-bar]").forEach(function (bar) {
      // Set through the DOM, not a style attribute: the Content-Security-Policy allows no inline styles.
      bar.style.width = Math.max(0, Math.min(100, parseFloat(bar.dataset.bar) || 0)) + "%";
    });
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:afterRequest", function (event) {
    var element = event.detail.elt;
    if (!element || !element.dataset || element.dataset.splitFailure === undefined) return;
    element.removeAttribute("aria-busy");
    if (!event.detail.successful) {
      var note = element.querySelector("p");
      if (note) note.textContent = element.dataset.splitFailure;
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) { enhance(event.target); });
})();
