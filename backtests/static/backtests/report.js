/* Draws a backtest report's charts from the JSON the page carries (id "backtest-charts"). */
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("backtest-charts");
    if (!source || !window.Plotly) { return; }
    var charts = JSON.parse(source.textContent);
    Object.keys(charts).forEach(function (id) {
      var target = document.getElementById("chart-" + id);
      if (target) {
        window.Plotly.newPlot(target, charts[id].data, charts[id].layout, {
          responsive: true,
          displaylogo: false,
        });
      }
    });
  }
  if (document.readyState === "complete") { draw(); } else { window.addEventListener("load", draw); }
})();
