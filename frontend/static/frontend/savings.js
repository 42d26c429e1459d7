/* Savings page charts (no inline script: data comes from json_script blocks). */
(function () {
  "use strict";

  function dollars(v) {
    return "$" + Number(v).toLocaleString(undefined, { maximumSignificantDigits: 4 });
  }

  function config(chart) {
    var values = chart.values.map(Number);
    if (chart.type === "line") {
      return {
        type: "line",
        data: { labels: chart.labels, datasets: [
          { label: "prompt tokens sent", data: values, borderColor: "#0b57d0", backgroundColor: "#0b57d0" },
          { label: "with the last turns + a summary", data: (chart.kept || []).map(Number), borderColor: "#1e8e3e",
            backgroundColor: "#1e8e3e", borderDash: [6, 4] }
        ] },
        options: { responsive: true, maintainAspectRatio: false, animation: false,
          scales: { x: { title: { display: true, text: "turn" } }, y: { beginAtZero: true, title: { display: true, text: "tokens" } } } }
      };
    }
    if (chart.type === "histogram") {
      return {
        type: "bar",
        data: { labels: chart.labels, datasets: [{ label: "calls", data: values, backgroundColor: "#0b57d0" }] },
        options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } },
          scales: { x: { title: { display: true, text: "output tokens" }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
                    y: { beginAtZero: true, title: { display: true, text: "calls" } } } }
      };
    }
    var current = chart.current || [];
    return {
      type: "bar",
      data: { labels: chart.labels, datasets: [{ label: "USD for the sampled mix", data: values,
        backgroundColor: values.map(function (_, i) { return current[i] ? "#d93025" : "#0b57d0"; }) }] },
      options: { indexAxis: "y", responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (ctx) { return dollars(ctx.parsed.x); } } } },
        scales: { x: { beginAtZero: true, ticks: { callback: dollars } } } }
    };
  }

  function draw() {
    if (!window.Chart) return;
    document.querySelectorAll("canvas[data-savings-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      var source = document.getElementById(canvas.dataset.savingsChart);
      if (!source) return;
      new window.Chart(canvas, config(JSON.parse(source.textContent)));
      canvas.dataset.drawn = "true";
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
