// Advisor workspace: draws the weights chart, and keeps the page live over /ws/live/ (the
// advisor's own group): execution progress and new proposals appear without a reload.
(function () {
  "use strict";
  var data = document.getElementById("weights-data");
  if (data && window.Plotly) {
    var figure = JSON.parse(data.textContent);
    window.Plotly.newPlot("weights-chart", figure.data, figure.layout, { displayModeBar: false, responsive: true });
  }
  var status = document.getElementById("live-status");
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var retry = 1000;
  var refreshing = false;

  function setStatus(text, cls) { if (status) { status.textContent = text; status.className = "live-status " + cls; } }

  function refresh(ids) {
    if (refreshing) { return; }
    refreshing = true;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ids.forEach(function (id) {
          var fresh = doc.querySelector(id);
          var current = document.querySelector(id);
          if (fresh && current) { current.replaceWith(fresh); fresh.classList.add("flash"); }
        });
        document.dispatchEvent(new CustomEvent("live:refreshed"));
      })
      .finally(function () { refreshing = false; });
  }

  function connect() {
    var socket = new WebSocket(scheme + window.location.host + "/ws/live/");
    socket.onopen = function () { retry = 1000; setStatus("Live", "on"); };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (!event || !event.event || event.event === "subscribed" || event.event === "prices.updated") { return; }
      if (document.getElementById("execution")) {
        refresh(["#execution", "[data-testid=proposal-status]", ".decide"]);
      } else {
        refresh(["[data-testid=client-book]", "[data-testid=pending-proposals]"]);
      }
    };
    socket.onclose = function () { setStatus("Reconnecting…", "off"); setTimeout(connect, retry); retry = Math.min(retry * 2, 30000); };
  }
  connect();
})();
