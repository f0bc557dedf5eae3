// Live updates for the dashboard over a websocket to /ws/live/. The server decides who may
// listen. On order.* and position.changed events the page fetches a small fragment and swaps in
// the value, positions and recent activity; prices.updated moves prices and values in place.
(function () {
  "use strict";
  var positions = document.getElementById("positions");
  var status = document.getElementById("live-status");
  if (!positions) { return; }
  var household = positions.getAttribute("data-household");
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var url = scheme + window.location.host + "/ws/live/?household=" + encodeURIComponent(household);
  var fragmentUrl = "/portal/households/" + encodeURIComponent(household) + "/live/";
  var LIVE_IDS = ["kpi-value", "kpi-gain", "positions", "recent-activity"];
  var retry = 1000;
  var refreshing = false;
  var subscribedBefore = false;
  var again = false;
  var money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function setStatus(text, cls) {
    if (!status) { return; }
    status.textContent = text;
    status.className = "live-status " + cls;
  }

  function openLots() {
    var open = {};
    Array.prototype.forEach.call(document.querySelectorAll("#positions details[open]"), function (d) {
      var row = d.closest("tr.lots-row");
      var prev = row && row.previousElementSibling;
      var account = d.closest("[data-account]");
      if (prev && account) { open[account.getAttribute("data-account") + ":" + prev.getAttribute("data-symbol")] = true; }
    });
    return open;
  }

  function reopenLots(open) {
    Array.prototype.forEach.call(document.querySelectorAll("#positions tr.lots-row"), function (row) {
      var prev = row.previousElementSibling;
      var account = row.closest("[data-account]");
      if (prev && account && open[account.getAttribute("data-account") + ":" + prev.getAttribute("data-symbol")]) {
        var details = row.querySelector("details");
        if (details) { details.open = true; }
      }
    });
  }

  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(fragmentUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var open = openLots();
        LIVE_IDS.forEach(function (id) {
          var fresh = doc.getElementById(id);
          var current = document.getElementById(id);
          if (fresh && current) {
            current.replaceWith(fresh);
            if (id !== "positions") { fresh.classList.add("flash"); }
          }
        });
        reopenLots(open);
        positions = document.getElementById("positions");
        document.dispatchEvent(new CustomEvent("live:refreshed"));
      })
      .catch(function () { /* the next event retries */ })
      .finally(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  function describe(data) {
    var p = data.payload || {};
    var what = [p.side, p.quantity, p.symbol].filter(Boolean).join(" ");
    if (data.event.indexOf("order.") === 0) {
      return "Order " + data.event.slice(6).replace(/_/g, " ") + (what ? ": " + what : "");
    }
    return "Position changed" + (what ? ": " + what : "");
  }

  function announce(data) {
    // Show the event at once; the fragment that follows replaces the list with the server's view.
    var list = document.getElementById("recent-activity");
    if (!list) { return; }
    var item = document.createElement("li");
    item.className = "activity-item pending flash";
    var text = document.createElement("span");
    text.className = "activity-text";
    text.textContent = describe(data);
    var meta = document.createElement("span");
    meta.className = "activity-meta";
    meta.textContent = "Just now";
    item.appendChild(text);
    item.appendChild(meta);
    list.insertBefore(item, list.firstChild);
  }

  function updatePrices(prices) {
    if (!prices) { return; }
    var total = 0;
    var touched = false;
    Array.prototype.forEach.call(document.querySelectorAll("#positions tr.position-row"), function (row) {
      var symbol = row.getAttribute("data-symbol");
      var quantity = parseFloat(row.getAttribute("data-quantity"));
      var pxCell = row.querySelector(".px");
      var mvCell = row.querySelector(".mv");
      var price = prices[symbol] !== undefined ? parseFloat(prices[symbol]) : parseFloat((pxCell.textContent || "").replace(/,/g, ""));
      if (prices[symbol] !== undefined && pxCell) {
        var shown = money.format(price);
        if (pxCell.textContent !== shown) {
          pxCell.textContent = shown;
          pxCell.classList.remove("tick");
          void pxCell.offsetWidth;
          pxCell.classList.add("tick");
          touched = true;
        }
        if (mvCell) { mvCell.textContent = money.format(quantity * price); }
      }
      total += quantity * price;
    });
    Array.prototype.forEach.call(document.querySelectorAll("#positions [data-cash]"), function (el) {
      total += parseFloat(el.getAttribute("data-cash")) || 0;
    });
    var value = document.querySelector("[data-testid=total-value]");
    if (value && touched) { value.textContent = "$" + money.format(total); }
  }

  function connect() {
    var socket = new WebSocket(url);
    socket.onopen = function () { retry = 1000; };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (!data || !data.event || data.event === "pong") { return; }
      // "Live" once the server has joined this page to its household's group, not before. After
      // a reconnection, fetch the live parts once: events sent while it was down are not replayed.
      if (data.event === "subscribed") {
        setStatus("Live", "on");
        if (subscribedBefore) { refresh(); }
        subscribedBefore = true;
        return;
      }
      document.dispatchEvent(new CustomEvent("live:event", { detail: data }));
      if (data.event === "prices.updated") {
        updatePrices((data.payload || {}).prices);
        return;
      }
      if (data.event.indexOf("order.") === 0 || data.event === "position.changed") {
        announce(data);
      }
      refresh();
    };
    socket.onclose = function () {
      setStatus("Reconnecting…", "off");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }
  connect();
})();
