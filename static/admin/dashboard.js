// The dashboard's live numbers: polls the stats endpoint and redraws without a reload.
(function () {
  "use strict";
  var POLL_MS = 5000;
  var chart = null;

  function get(obj, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? o : o[k]; }, obj);
  }

  function formatStat(path, value) {
    if (value === null || value === undefined) return "—";
    if (/error_rate$/.test(path)) return (value * 100).toFixed(1) + "% errors";
    if (/_ms$/.test(path)) return value + " ms";
    if (typeof value === "number") return value.toLocaleString("en-US");
    return String(value);
  }

  function text(tag, value, className) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    el.textContent = value == null ? "" : String(value);
    return el;
  }

  function keyLink(keysUrl, id, label) {
    var a = document.createElement("a");
    a.href = keysUrl + "?q=" + encodeURIComponent("#" + id);
    a.textContent = label;
    return a;
  }

  function renderAttention(items, keysUrl) {
    var list = document.getElementById("attention");
    list.replaceChildren();
    if (!items.length) {
      list.appendChild(text("li", "None: every key is healthy.", "text-body-secondary"));
      return;
    }
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.className = "mb-1";
      var link = keyLink(keysUrl, item.id, item.key);
      link.className = "key-mask";
      li.appendChild(link);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(text("span", item.problem, "badge text-bg-" + (item.problem === "dead" ? "danger" : "warning")));
      li.appendChild(document.createTextNode(" " + item.pool + (item.label ? " · " + item.label : "") + " — " + item.detail));
      list.appendChild(li);
    });
  }

  function renderErrors(rows, keysUrl) {
    var body = document.querySelector("#latest-errors tbody");
    body.replaceChildren();
    if (!rows.length) {
      var tr = document.createElement("tr");
      var td = text("td", "No error in the last 24 hours.", "text-body-secondary");
      td.colSpan = 7;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (e) {
      var tr = document.createElement("tr");
      tr.appendChild(text("td", (e.at || "").slice(11, 19)));
      tr.appendChild(text("td", e.model || ""));
      tr.appendChild(text("td", e.status));
      tr.appendChild(text("td", e.error_class));
      var keyCell = document.createElement("td");
      if (e.key_id) keyCell.appendChild(keyLink(keysUrl, e.key_id, "#" + e.key_id));
      tr.appendChild(keyCell);
      tr.appendChild(text("td", e.client || ""));
      tr.appendChild(text("td", e.message, "text-break"));
      body.appendChild(tr);
    });
  }

  function colors() {
    var style = getComputedStyle(document.documentElement);
    return {
      ok: style.getPropertyValue("--bs-success").trim() || "#198754",
      bad: style.getPropertyValue("--bs-danger").trim() || "#dc3545",
      text: style.getPropertyValue("--bs-body-color").trim() || "#212529",
      grid: style.getPropertyValue("--bs-border-color").trim() || "#dee2e6"
    };
  }

  function drawChart(series) {
    var canvas = document.getElementById("requests-chart");
    if (!canvas || typeof Chart === "undefined") return;
    var c = colors();
    if (!chart) {
      chart = new Chart(canvas, {
        type: "bar",
        data: {
          labels: series.labels,
          datasets: [
            { label: "Successes", data: series.success, backgroundColor: c.ok, stack: "r" },
            { label: "Errors", data: series.errors, backgroundColor: c.bad, stack: "r" }
          ]
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          scales: {
            x: { stacked: true, ticks: { color: c.text, maxTicksLimit: 12 }, grid: { color: c.grid } },
            y: { stacked: true, beginAtZero: true, ticks: { color: c.text, precision: 0 }, grid: { color: c.grid } }
          },
          plugins: { legend: { labels: { color: c.text } } }
        }
      });
      return;
    }
    chart.data.labels = series.labels;
    chart.data.datasets[0].data = series.success;
    chart.data.datasets[1].data = series.errors;
    chart.update("none");
  }

  function recolor() {
    if (!chart) return;
    var c = colors();
    chart.options.scales.x.ticks.color = c.text;
    chart.options.scales.y.ticks.color = c.text;
    chart.options.scales.x.grid.color = c.grid;
    chart.options.scales.y.grid.color = c.grid;
    chart.options.plugins.legend.labels.color = c.text;
    chart.update("none");
  }

  function render(data, keysUrl) {
    document.querySelectorAll("[data-stat]").forEach(function (el) {
      var path = el.getAttribute("data-stat");
      el.textContent = formatStat(path, get(data, path));
    });
    var at = document.getElementById("updated-at");
    if (at) at.textContent = (data.at || "").slice(11, 19) + " UTC";
    renderAttention(data.attention || [], keysUrl);
    renderErrors(data.latest_errors || [], keysUrl);
    drawChart(data.per_minute);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("dashboard");
    if (!root) return;
    var url = root.getAttribute("data-summary-url");
    var keysUrl = root.getAttribute("data-keys-url");
    function poll() {
      // A hidden tab asks nothing; it catches up as soon as it is shown again.
      if (document.hidden) { setTimeout(poll, POLL_MS); return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (resp) {
          if (resp.status === 401) { window.location.reload(); return null; }
          return resp.ok ? resp.json() : null;
        })
        .then(function (data) { if (data) render(data, keysUrl); })
        .catch(function () { /* a missed poll is retried on the next tick */ })
        .finally(function () { setTimeout(poll, POLL_MS); });
    }
    poll();
    document.addEventListener("balancer:theme", recolor);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (resp) { return resp.ok ? resp.json() : null; })
          .then(function (data) { if (data) render(data, keysUrl); })
          .catch(function () { /* the regular poll retries */ });
      }
    });
  });
})();
