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
  var LIVE_IDS = ["kpi-value", "kpi-gain", "positions", "recent-activity", "allocation-numbers", "drift-rows"];
  var FLASH_IDS = ["kpi-value", "kpi-gain", "recent-activity"];
  var retry = 1000;
  var refreshing = false;
  var subscribedBefore = false;
  var again = false;

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
            if (FLASH_IDS.indexOf(id) >= 0) { fresh.classList.add("flash"); }
          }
        });
        reopenLots(open);
        positions = document.getElementById("positions");
        document.dispatchEvent(new CustomEvent("live:refreshed"));
        // a fill moved shares and cash: the weights, drift and charts follow from the new rows
        updatePrices({}, null);
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

  // Money as the server computes it: decimal strings become exact scaled integers (BigInt), a
  // product is rounded once to cents half-to-even (portfolios.core.money.cash) and sums stay in
  // cents, so a tick shows the same cents as a reload.
  var TEN = BigInt(10);
  var TWO = BigInt(2);
  var ZERO = BigInt(0);
  var ONE = BigInt(1);
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function decimal(text) {
    var m = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(String(text));
    if (!m || (!m[2] && !m[3])) { return null; }
    var fraction = m[3] || "";
    var scale = fraction.length - (m[4] ? parseInt(m[4], 10) : 0);
    var n = BigInt((m[2] || "0") + fraction);
    if (scale < 0) { n = n * TEN ** BigInt(-scale); scale = 0; }
    return { n: m[1] === "-" ? -n : n, scale: scale };
  }

  function times(a, b) { return { n: a.n * b.n, scale: a.scale + b.scale }; }

  // The integer number of 10^-places units; halfUp rounds ties away from zero (Django's
  // floatformat), otherwise ties go to the even neighbour (the ledger's cash()).
  function rounded(d, places, halfUp) {
    if (d.scale <= places) { return d.n * TEN ** BigInt(places - d.scale); }
    var unit = TEN ** BigInt(d.scale - places);
    var negative = d.n < ZERO;
    var size = negative ? -d.n : d.n;
    var q = size / unit;
    var twice = (size % unit) * TWO;
    if (twice > unit || (twice === unit && (halfUp || q % TWO === ONE))) { q += ONE; }
    return negative ? -q : q;
  }

  function cents(text) {
    var d = decimal(text);
    return d ? rounded(d, 2, false) : null;
  }

  // A data- attribute as a decimal; a missing or malformed one counts as zero.
  function number(el, name) {
    return decimal(el.getAttribute(name) || "0") || { n: ZERO, scale: 0 };
  }

  // amount_text: 1,234.50
  function amountText(c) {
    var negative = c < ZERO;
    var digits = (negative ? -c : c).toString().padStart(3, "0");
    var whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + whole + "." + digits.slice(-2);
  }

  // money_text and portal/_money.html: $1,234.50, −$12.00 (a true minus), +$3.10 if signed
  function moneyText(c, signed) {
    if (c < ZERO) { return "\u2212$" + amountText(-c); }
    return (signed && c > ZERO ? "+" : "") + "$" + amountText(c);
  }

  function plainCents(c) {
    var negative = c < ZERO;
    var digits = (negative ? -c : c).toString().padStart(3, "0");
    return (negative ? "-" : "") + digits.slice(0, -2) + "." + digits.slice(-2);
  }

  // Django's floatformat of a float: its shortest repr, rounded half away from zero.
  function floatFormat(x, places) {
    var units = rounded(decimal(String(x)), places, true);
    var negative = units < ZERO;
    var digits = (negative ? -units : units).toString().padStart(places + 1, "0");
    var text = places ? digits.slice(0, -places) + "." + digits.slice(-places) : digits;
    return (negative ? "-" : "") + text;
  }

  function setSign(el, c) {
    el.classList.toggle("neg", c < ZERO);
    el.classList.toggle("pos", c >= ZERO);
  }

  function setText(el, text) {
    if (el && el.textContent !== text) { el.textContent = text; }
  }

  function dateText(iso) {
    var parts = iso.split("-");
    return MONTHS[parseInt(parts[1], 10) - 1] + " " + parseInt(parts[2], 10) + ", " + parts[0];
  }

  // The allocation and drift charts, redrawn from the weights above with the columns that
  // advisor.charts builds, so a tick leaves them as a reload draws them. A chart that charts.js
  // has not drawn yet (or a page without Plotly) is left alone.
  function plotted(id) {
    var el = document.getElementById(id);
    return el && window.Plotly && el.data && el.data.length && el.layout ? el : null;
  }

  // Python's format(x, ".Nf"), which the server's captions use. toFixed rounds the exact binary
  // value as Python does, except at an exact tie (12.25 to one place), which Python sends to the
  // even neighbour and toFixed up; the digits past the tie are zeros only for a true tie.
  function fixed(x, places) {
    var digits = Math.abs(x).toFixed(places + 30);
    var cut = digits.length - 30;
    if (/^50*$/.test(digits.slice(cut))) {
      var kept = digits.slice(0, cut).replace(/\.$/, "");
      var even = parseInt(kept.charAt(kept.length - 1), 10) % 2 === 0;
      return (x < 0 ? "-" : "") + (even ? kept : Math.abs(x).toFixed(places));
    }
    return x.toFixed(places);
  }

  function setCaption(el, text) {
    setText(document.getElementById(el.id + "-caption"), text);
  }

  function updateAllocationChart(rows, classes) {
    var el = plotted("chart-allocation");
    if (!el) { return; }
    var trace = el.data[0];
    var meta = el.layout.meta || {};
    var colours = meta.colours || {};
    var order = [];
    var members = {};
    rows.forEach(function (r) {
      var w = Math.round(r.weight * 100 * 10000) / 10000;  // round(weight * 100, 4)
      if (!(w > 0)) { return; }
      if (!members[r.cls]) { members[r.cls] = []; order.push(r.cls); }
      members[r.cls].push({ symbol: r.symbol, weight: w });
    });
    var ids = [], labels = [], parents = [], values = [], colors = [];
    order.forEach(function (cls) {
      var colour = colours[cls] || meta.muted || "#5f6b7f";
      ids.push(cls);
      labels.push(classes[cls] ? classes[cls].label : cls);
      parents.push("");
      values.push(members[cls].reduce(function (sum, m) { return sum + m.weight; }, 0));
      colors.push(colour);
      members[cls].forEach(function (m) {
        ids.push(cls + "/" + m.symbol);
        labels.push(m.symbol === "_cash" ? "Cash" : m.symbol);
        parents.push(cls);
        values.push(m.weight);
        colors.push(colour);
      });
    });
    var data = el.data.slice();
    data[0] = Object.assign({}, trace, {
      ids: ids, labels: labels, parents: parents, values: values,
      marker: Object.assign({}, trace.marker, { colors: colors })
    });
    // Plotly's responsive resizing drops the figure's height from el.layout; keep the drawn one
    var height = el.layout.height || (el._fullLayout && el._fullLayout.height);
    window.Plotly.react(el, data, Object.assign({}, el.layout, height ? { height: height } : {}));
    var biggest = null;
    Object.keys(classes).forEach(function (cls) {
      if (!biggest || classes[cls].weight > biggest.weight) { biggest = classes[cls]; }
    });
    if (!biggest) { return; }
    var text = "The largest part of your portfolio is " + inSentence(biggest.label) + " at " +
      fixed(biggest.weight * 100, 0) + "%";
    text += el.data.length > 1 ? " (target " + fixed(biggest.target * 100, 0) + "%)." : ".";
    setCaption(el, text);
  }

  // a label inside a sentence, as advisor/charts.py writes it: "bonds", but "US equity"
  function inSentence(label) {
    return /^[A-Z]{2}/.test(label) ? label : label.charAt(0).toLowerCase() + label.slice(1);
  }

  function updateDriftChart(rows, drift) {
    var el = plotted("chart-drift");
    if (!el) { return; }
    var meta = el.layout.meta || {};
    if (!meta.bars) { return; }  // a figure from before the bars' settings travelled with it
    function gap(r) { return r.weight - r.target; }
    var largest = rows.slice().sort(function (a, b) {
      return Math.abs(gap(b)) - Math.abs(gap(a));
    }).slice(0, meta.bars);
    var shown = largest.filter(function (r) { return Math.abs(gap(r)) >= 0.0005; });
    if (!shown.length) { shown = largest; }
    shown.sort(function (a, b) { return gap(a) - gap(b); });
    var x = shown.map(function (r) { return gap(r) * 100; });
    var data = el.data.slice();
    data[0] = Object.assign({}, el.data[0], {
      x: x,
      y: shown.map(function (r) { return r.label; }),
      customdata: shown.map(function (r) { return [r.weight * 100, r.target * 100]; }),
      marker: Object.assign({}, el.data[0].marker, {
        color: x.map(function (d) { return d > 0 ? meta.over : meta.under; })
      })
    });
    var layout = Object.assign({}, el.layout, { height: Math.max(200, 26 * shown.length + 60) });
    window.Plotly.react(el, data, layout);
    var worst = largest[0];
    if (!worst) { return; }
    var text = "Total drift is " + fixed(drift * 100, 1) + "% of the portfolio. The largest gap is " +
      worst.label + ", " + fixed(Math.abs(gap(worst)) * 100, 1) + " points " +
      (gap(worst) > 0 ? "over" : "under") + " its target.";
    if (rows.length > shown.length) { text += " The chart shows the " + shown.length + " largest gaps."; }
    setCaption(el, text);
  }

  // Weights and drift as portfolios' household_allocation computes them, in the same order, so
  // the float sums (and their rounding for display) match the server's.
  function updateAllocation(values, cashTotal, total) {
    var totalN = Number(total);
    function weight(c) { return totalN ? Number(c) / totalN : 0; }
    var table = document.querySelector("[data-testid=allocation-table]");
    var rank = {};
    if (table) {
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr[data-asset-class]"), function (tr, i) {
        rank[tr.getAttribute("data-asset-class")] = i;
      });
    }
    var driftBody = document.querySelector("[data-testid=drift-rows]");
    var rows = [];
    if (driftBody) {
      Array.prototype.forEach.call(driftBody.querySelectorAll("tr[data-symbol]"), function (tr) {
        var symbol = tr.getAttribute("data-symbol");
        var cls = tr.getAttribute("data-asset-class");
        var value = symbol === "_cash" ? cashTotal : (values[symbol] ? values[symbol].value : ZERO);
        var th = tr.querySelector("th");
        rows.push({ symbol: symbol, cls: cls, weight: weight(value), target: parseFloat(tr.getAttribute("data-target")) || 0, tr: tr, label: th ? th.textContent.trim() : symbol });
      });
    } else {
      Object.keys(values).forEach(function (symbol) {
        rows.push({ symbol: symbol, cls: values[symbol].cls, weight: weight(values[symbol].value), target: 0, label: symbol });
      });
      if (cashTotal !== ZERO || !rows.length) { rows.push({ symbol: "_cash", cls: "_cash", weight: weight(cashTotal), target: 0, label: "Cash" }); }
    }
    function order(c) { return rank[c] !== undefined ? rank[c] : 999; }
    rows.sort(function (a, b) {
      if (order(a.cls) !== order(b.cls)) { return order(a.cls) - order(b.cls); }
      if (a.weight !== b.weight) { return b.weight - a.weight; }
      return a.symbol < b.symbol ? -1 : (a.symbol > b.symbol ? 1 : 0);
    });
    var byClass = {};
    var targetByClass = {};
    var drift = 0;
    rows.forEach(function (r) {
      byClass[r.cls] = (byClass[r.cls] || 0) + r.weight;
      targetByClass[r.cls] = (targetByClass[r.cls] || 0) + r.target;
      drift += Math.abs(r.weight - r.target);
    });
    drift = drift / 2;
    var classes = {};
    if (table) {
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr[data-asset-class]"), function (tr) {
        var cls = tr.getAttribute("data-asset-class");
        var th = tr.querySelector("th");
        classes[cls] = { label: th ? th.textContent.trim() : cls, weight: byClass[cls] || 0, target: targetByClass[cls] || 0 };
        setText(tr.querySelector("[data-live=weight]"), floatFormat((byClass[cls] || 0) * 100, 1) + "%");
      });
    }
    if (driftBody) {
      rows.forEach(function (r) {
        setText(r.tr.querySelector("[data-live=weight]"), floatFormat(r.weight * 100, 1) + "%");
        setText(r.tr.querySelector("[data-live=gap]"), floatFormat((r.weight - r.target) * 100, 1));
        if (driftBody.lastElementChild !== r.tr) { driftBody.appendChild(r.tr); }
      });
      updateDriftFigures(drift);
    }
    // the charts last: a chart that fails to redraw keeps its last picture, the figures are right
    try { updateAllocationChart(rows, classes); } catch (e) { /* see above */ }
    if (driftBody) {
      try { updateDriftChart(rows, drift); } catch (e) { /* see above */ }
    }
  }

  function updateDriftFigures(drift) {
    var kpi = document.querySelector("[data-testid=drift]");
    if (!kpi) { return; }
    setText(kpi, floatFormat(drift * 100, 1) + "%");
    var badge = document.querySelector("[data-testid=drift-badge]");
    var threshold = parseFloat(kpi.getAttribute("data-threshold"));
    var pct = kpi.getAttribute("data-threshold-pct");
    if (badge && !isNaN(threshold)) {
      var due = drift > threshold;
      var html = due
        ? '<span class="badge warn">Above ' + pct + "% threshold</span>"
        : '<span class="badge good">Within ' + pct + "%</span>";
      if (badge.innerHTML !== html) { badge.innerHTML = html; }
    }
  }

  // prices.updated: move each held symbol's price, then every figure that depends on it from the
  // rows' data- attributes (shares, basis, cash): position and lot values and gains, account
  // values, the total, the unrealised gain and the weights.
  function updatePrices(prices, session) {
    if (!prices || !document.getElementById("positions")) { return; }
    var total = ZERO;
    var gain = ZERO;
    var cashTotal = ZERO;
    var values = {};
    var moved = false;
    Array.prototype.forEach.call(document.querySelectorAll("#positions [data-account]"), function (account) {
      var accountValue = ZERO;
      Array.prototype.forEach.call(account.querySelectorAll("tr.position-row"), function (row) {
        var symbol = row.getAttribute("data-symbol");
        var pxCell = row.querySelector(".px");
        if (prices[symbol] !== undefined && prices[symbol] !== null && decimal(prices[symbol])) {
          var fresh = String(prices[symbol]).trim();
          var before = number(row, "data-price");
          moved = true;
          row.setAttribute("data-price", fresh);
          if (pxCell && rounded(before, 2, false) !== cents(fresh)) {
            pxCell.textContent = amountText(cents(fresh));
            pxCell.classList.remove("tick");
            void pxCell.offsetWidth;
            pxCell.classList.add("tick");
          }
        }
        var price = number(row, "data-price");
        var value = rounded(times(number(row, "data-quantity"), price), 2, false);
        var rowGain = value - rounded(number(row, "data-basis"), 2, false);
        setText(row.querySelector(".mv"), amountText(value));
        var gainCell = row.querySelector(".gain");
        if (gainCell) { setText(gainCell, moneyText(rowGain, true)); setSign(gainCell, rowGain); }
        var lots = row.nextElementSibling;
        if (lots && lots.classList.contains("lots-row")) {
          Array.prototype.forEach.call(lots.querySelectorAll("tr.lot-row"), function (lot) {
            var lotValue = rounded(times(number(lot, "data-quantity"), price), 2, false);
            var lotGain = lotValue - rounded(number(lot, "data-basis"), 2, false);
            setText(lot.querySelector(".mv"), amountText(lotValue));
            var lotGainCell = lot.querySelector(".gain");
            if (lotGainCell) { setText(lotGainCell, moneyText(lotGain, true)); setSign(lotGainCell, lotGain); }
          });
        }
        accountValue += value;
        gain += rowGain;
        if (!values[symbol]) { values[symbol] = { value: ZERO, cls: row.getAttribute("data-asset-class") }; }
        values[symbol].value += value;
      });
      var cashEl = account.querySelector("[data-cash]");
      var accountCash = cashEl ? rounded(number(cashEl, "data-cash"), 2, false) : ZERO;
      accountValue += accountCash;
      cashTotal += accountCash;
      total += accountValue;
      setText(account.querySelector(".acct-value"), moneyText(accountValue, false));
    });
    var valueEl = document.querySelector("[data-testid=total-value]");
    if (valueEl) {
      valueEl.setAttribute("data-value", plainCents(total));
      setText(valueEl, moneyText(total, false));
    }
    var gainEl = document.querySelector("[data-testid=unrealised-gain]");
    if (gainEl) { setText(gainEl, moneyText(gain, true)); setSign(gainEl, gain); }
    var asOf = document.querySelector("[data-testid=prices-as-of]");
    if (asOf && moved && session && /^\d{4}-\d{2}-\d{2}$/.test(session) && session > (asOf.getAttribute("data-as-of") || "")) {
      asOf.setAttribute("data-as-of", session);
      asOf.textContent = "At closes of " + dateText(session);
    }
    updateAllocation(values, cashTotal, total);
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
        updatePrices((data.payload || {}).prices, (data.payload || {}).session);
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
