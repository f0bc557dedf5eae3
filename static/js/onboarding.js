// Onboarding: the risk step previews the score live (answers posted as JSON to a CSRF-protected
// endpoint that runs the questionnaire's assessment); the review step shows progress on submit.
// Without JavaScript both forms still work: "Show my score" and a plain submit.
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function text(tag, className, content) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (content !== undefined) { el.textContent = content; }
    return el;
  }

  function renderScore(target, data) {
    target.textContent = "";
    if (!data.complete) {
      target.appendChild(text("p", "muted", data.message));
      return;
    }
    var box = text("div", "score");
    var value = text("p", "score-value");
    value.appendChild(text("span", "score-number", String(data.score)));
    value.appendChild(text("span", "score-of", "/10"));
    box.appendChild(value);
    box.appendChild(text("p", "score-meaning", data.meaning));
    var bar = text("div", "split-bar");
    bar.setAttribute("aria-hidden", "true");
    [["eq", data.equity], ["bd", data.bond], ["cs", data.cash]].forEach(function (part) {
      var span = text("span", part[0]);
      span.style.width = part[1] + "%";
      bar.appendChild(span);
    });
    box.appendChild(bar);
    box.appendChild(text("p", "small", "Target mix: " + data.equity + "% shares, " + data.bond + "% bonds, " + data.cash + "% cash."));
    var parts = text("dl", "score-parts");
    [["Willingness", data.willingness], ["Capacity", data.capacity]].forEach(function (part) {
      var div = document.createElement("div");
      div.appendChild(text("dt", "", part[0]));
      div.appendChild(text("dd", "", part[1] + "/10"));
      parts.appendChild(div);
    });
    box.appendChild(parts);
    if (data.contradictions && data.contradictions.length) {
      box.appendChild(text("p", "notice small", "Some answers pull in different directions (" + data.contradictions.join("; ") + "), so we lowered the score. Your adviser will talk it through with you."));
    }
    target.appendChild(box);
  }

  var form = document.getElementById("risk-form");
  if (form) {
    var target = document.getElementById("score-preview");
    var url = form.getAttribute("data-preview-url");
    var pending = null;
    Array.prototype.forEach.call(form.querySelectorAll("[data-no-js-only]"), function (el) { el.hidden = true; });

    var preview = function () {
      var answers = {};
      Array.prototype.forEach.call(form.querySelectorAll("input[type=radio]:checked"), function (input) {
        answers[input.name] = input.value;
      });
      if (pending) { pending.abort(); }
      pending = new AbortController();
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        signal: pending.signal,
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form) },
        body: JSON.stringify({ answers: answers })
      })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) { if (data) { renderScore(target, data); } })
        .catch(function () { /* a newer request replaced this one, or the network failed */ });
    };
    form.addEventListener("change", preview);
    if (form.querySelector("input[type=radio]:checked")) { preview(); }
  }

  var submit = document.getElementById("submit-form");
  if (submit) {
    submit.addEventListener("submit", function () {
      var button = submit.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.textContent = "Building your portfolio…";
        button.setAttribute("aria-busy", "true");
      }
    });
  }
})();
