// Renders the server-built Plotly figures: each element with data-chart names the id of a
// <script type="application/json"> holding {data, layout}. The text alternative is in the page.
(function () {
  "use strict";
  var config = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
    toImageButtonOptions: { format: "png", scale: 2 }
  };

  // Side-by-side pies (now and target) are too small on a phone: stack them instead.
  function stackOnNarrowScreens(element, data, layout) {
    var pies = data.filter(function (trace) { return trace.type === "sunburst"; });
    if (pies.length !== 2 || element.clientWidth >= 520) { return; }
    var height = Math.max(560, Math.round(element.clientWidth * 1.7));
    pies[0].domain = { x: [0, 1], y: [0.53, 0.95] };
    pies[1].domain = { x: [0, 1], y: [0, 0.42] };
    (layout.annotations || []).forEach(function (note, i) {
      note.x = 0.5;
      note.y = i === 0 ? 1.0 : 0.47;
    });
    layout.height = height;
    element.style.minHeight = height + "px";
  }

  function render(element) {
    var source = document.getElementById(element.getAttribute("data-chart"));
    if (!source || !window.Plotly) { return; }
    var figure;
    try { figure = JSON.parse(source.textContent); } catch (e) { return; }
    var layout = figure.layout || {};
    layout.autosize = true;
    stackOnNarrowScreens(element, figure.data || [], layout);
    window.Plotly.newPlot(element, figure.data || [], layout, config).then(function () {
      element.classList.add("rendered");
      element.style.minHeight = "";
    });
  }

  function renderAll() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), render);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
