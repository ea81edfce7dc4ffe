// The statistics page: reads the range picker and filter, fetches the stats JSON and
// draws the charts and tables; a change fetches again without a reload.
(function () {
  "use strict";
  var REFRESH_MS = 30000;
  var OUTCOMES = [
    ["success", "Success", "--bs-success"], ["client_error", "Client error", "--bs-warning"],
    ["rate_limited", "Rate limited", "--bs-info"], ["upstream_error", "Upstream error", "--bs-danger"],
    ["no_key", "No key", "--bs-secondary"], ["client_gone", "Client gone", "--bs-gray-500"]
  ];
  var charts = {};
  var root, form, timer = null, generation = 0;

  function css(name, fallback) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  }

  function number(v) { return v == null ? "—" : Number(v).toLocaleString("en-US"); }
  function ms(v) { return v == null ? "—" : number(v) + " ms"; }

  function label(iso, granularity) {
    // Times are UTC, as the picker's custom range is.
    if (granularity === "day") return iso.slice(0, 10);
    if (granularity === "hour") return iso.slice(5, 10) + " " + iso.slice(11, 16);
    return iso.slice(11, 16);
  }

  function query() {
    var params = new URLSearchParams();
    var range = form.elements.range.value;
    if (range === "custom") {
      if (!form.elements.from.value || !form.elements.to.value) return null;
      params.set("from", form.elements.from.value + "Z");
      params.set("to", form.elements.to.value + "Z");
    } else {
      params.set("range", range);
    }
    if (form.elements.granularity.value) params.set("granularity", form.elements.granularity.value);
    var filter = form.elements.filter.value;
    if (filter) {
      var at = filter.indexOf(":");
      params.set(filter.slice(0, at), filter.slice(at + 1));
    }
    return params;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (resp) {
        if (resp.status === 401) { window.location.reload(); return Promise.reject(new Error("signed out")); }
        return resp.json().then(function (body) {
          if (!resp.ok) {
            var err = new Error((body.error && body.error.message) || ("HTTP " + resp.status));
            err.status = resp.status;
            return Promise.reject(err);
          }
          return body;
        });
      });
  }

  function showError(message) {
    var box = document.getElementById("stats-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function axes(stacked, unit) {
    var text = css("--bs-body-color", "#212529"), grid = css("--bs-border-color", "#dee2e6");
    return {
      x: { stacked: stacked, ticks: { color: text, maxTicksLimit: 12, autoSkip: true }, grid: { color: grid } },
      y: { stacked: stacked, beginAtZero: true, ticks: { color: text, precision: 0 }, grid: { color: grid },
           title: { display: !!unit, text: unit || "", color: text } }
    };
  }

  function draw(id, type, labels, datasets, stacked, unit) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") return;
    if (charts[id]) {
      charts[id].data.labels = labels;
      charts[id].data.datasets = datasets;
      charts[id].update("none");
      return;
    }
    charts[id] = new Chart(canvas, {
      type: type,
      data: { labels: labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, spanGaps: true,
        interaction: { mode: "index", intersect: false },
        scales: axes(stacked, unit),
        plugins: { legend: { labels: { color: css("--bs-body-color", "#212529") } } }
      }
    });
  }

  function recolor() {
    Object.keys(charts).forEach(function (id) {
      var chart = charts[id];
      var stacked = !!chart.options.scales.x.stacked;
      var unit = chart.options.scales.y.title.text;
      chart.options.scales = axes(stacked, unit);
      chart.options.plugins.legend.labels.color = css("--bs-body-color", "#212529");
      chart.update("none");
    });
  }

  function renderRequests(data) {
    var labels = data.labels.map(function (l) { return label(l, data.granularity); });
    var sets = OUTCOMES.map(function (o) {
      return { label: o[1], data: data.series[o[0]], backgroundColor: css(o[2], "#888"), stack: "r" };
    });
    draw("chart-requests", "bar", labels, sets, true, "requests");
    var t = data.totals;
    setTotal("requests", number(t.requests));
    setTotal("error_rate", (t.error_rate * 100).toFixed(1) + "%");
    var win = document.getElementById("stats-window");
    win.textContent = data.from.slice(0, 16).replace("T", " ") + " – " + data.to.slice(0, 16).replace("T", " ") +
      " UTC, per " + data.granularity;
  }

  function renderTokens(data) {
    var labels = data.labels.map(function (l) { return label(l, data.granularity); });
    draw("chart-tokens", "bar", labels, [
      { label: "Tokens in", data: data.tokens_in, backgroundColor: css("--bs-primary", "#0d6efd") },
      { label: "Tokens out", data: data.tokens_out, backgroundColor: css("--bs-teal", "#20c997") }
    ], false, "tokens");
    setTotal("tokens_in", number(data.totals.tokens_in));
    setTotal("tokens_out", number(data.totals.tokens_out));
  }

  function renderLatency(data) {
    var labels = data.labels.map(function (l) { return label(l, data.granularity); });
    function line(name, values, color, dashed) {
      return { label: name, data: values, borderColor: color, backgroundColor: color, pointRadius: 0,
               borderDash: dashed ? [6, 4] : [], tension: 0.2 };
    }
    draw("chart-latency", "line", labels, [
      line("Latency p50", data.latency_p50_ms, css("--bs-primary", "#0d6efd"), false),
      line("Latency p95", data.latency_p95_ms, css("--bs-danger", "#dc3545"), false),
      line("First byte p50", data.ttfb_p50_ms, css("--bs-primary", "#0d6efd"), true),
      line("First byte p95", data.ttfb_p95_ms, css("--bs-danger", "#dc3545"), true)
    ], false, "ms");
    var t = data.totals;
    setTotal("latency", ms(t.latency_p50_ms) + " / " + ms(t.latency_p95_ms));
    setTotal("ttfb", ms(t.ttfb_p50_ms) + " / " + ms(t.ttfb_p95_ms));
  }

  function setTotal(name, value) {
    var el = document.querySelector('[data-total="' + name + '"]');
    if (el) el.textContent = value;
  }

  function cell(value, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = value == null ? "" : String(value);
    return td;
  }

  function nameCell(dimension, row) {
    var td = document.createElement("td");
    if (dimension === "key" && row.value !== "0") {
      var a = document.createElement("a");
      a.href = root.getAttribute("data-keys-url") + "?q=" + encodeURIComponent("#" + row.value);
      a.className = "key-mask";
      a.textContent = row.name;
      td.appendChild(a);
      var extra = [row.label, row.pool].filter(Boolean).join(" · ");
      if (extra) td.appendChild(document.createTextNode(" " + extra));
    } else {
      td.textContent = row.name;
    }
    return td;
  }

  function renderTable(dimension, data) {
    var body = document.querySelector("#breakdown-" + dimension + " tbody");
    body.replaceChildren();
    var rows = data.rows.slice();
    if (!rows.length) {
      var tr = document.createElement("tr");
      var td = cell("No requests in this range.", "text-body-secondary");
      td.colSpan = 7;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    if (data.others) rows.push(Object.assign({ value: "", name: data.others_count + " more" }, data.others));
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.appendChild(nameCell(dimension, row));
      tr.appendChild(cell(number(row.requests), "text-end"));
      tr.appendChild(cell(number(row.errors) + " (" + (row.error_rate * 100).toFixed(1) + "%)", "text-end"));
      tr.appendChild(cell(number(row.tokens_in), "text-end"));
      tr.appendChild(cell(number(row.tokens_out), "text-end"));
      tr.appendChild(cell(ms(row.latency_avg_ms), "text-end"));
      tr.appendChild(cell(ms(row.latency_p95_ms), "text-end"));
      body.appendChild(tr);
    });
  }

  function tableMessage(dimension, message) {
    var body = document.querySelector("#breakdown-" + dimension + " tbody");
    var tr = document.createElement("tr");
    var td = cell(message, "text-body-secondary");
    td.colSpan = 7;
    tr.appendChild(td);
    body.replaceChildren(tr);
  }

  function load() {
    var params = query();
    if (!params) { showError("Choose both ends of the custom range."); return; }
    var mine = ++generation;
    var qs = "?" + params.toString();
    var jobs = [
      getJSON(root.getAttribute("data-requests-url") + qs).then(function (d) { if (mine === generation) renderRequests(d); }),
      getJSON(root.getAttribute("data-tokens-url") + qs).then(function (d) { if (mine === generation) renderTokens(d); }),
      getJSON(root.getAttribute("data-latency-url") + qs).then(function (d) { if (mine === generation) renderLatency(d); })
    ];
    var failed = null;
    Promise.all(jobs.map(function (job) { return job.catch(function (e) { failed = failed || e; }); }))
      .then(function () { if (mine === generation) showError(failed ? failed.message : ""); });
    document.querySelectorAll("[data-dimension]").forEach(function (table) {
      var dimension = table.getAttribute("data-dimension");
      var url = root.getAttribute("data-breakdown-url").replace("DIMENSION", dimension) + qs;
      getJSON(url)
        .then(function (d) { if (mine === generation) renderTable(dimension, d); })
        // A filter that this breakdown cannot combine with says so in its table.
        .catch(function (e) { if (mine === generation) tableMessage(dimension, e.message); });
    });
  }

  function schedule() {
    if (timer) clearTimeout(timer);
    // A custom range is history: only the moving ranges refresh on their own.
    if (form.elements.range.value === "custom") return;
    timer = setTimeout(function () {
      if (!document.hidden) load();
      schedule();
    }, REFRESH_MS);
  }

  function toggleCustom() {
    var custom = form.elements.range.value === "custom";
    document.querySelectorAll(".stats-custom").forEach(function (el) { el.hidden = !custom; });
    if (custom && !form.elements.from.value) {
      var now = new Date();
      form.elements.to.value = now.toISOString().slice(0, 16);
      form.elements.from.value = new Date(now.getTime() - 86400000).toISOString().slice(0, 16);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    root = document.getElementById("statistics");
    form = document.getElementById("stats-form");
    if (!root || !form) return;
    form.addEventListener("submit", function (event) { event.preventDefault(); load(); schedule(); });
    ["range", "granularity", "filter"].forEach(function (name) {
      form.elements[name].addEventListener("change", function () {
        toggleCustom();
        load();
        schedule();
      });
    });
    document.addEventListener("balancer:theme", recolor);
    toggleCustom();
    load();
    schedule();
  });
})();
