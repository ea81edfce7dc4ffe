// Behaviour shared by the admin pages: select-all boxes, confirmations, copy
// buttons and a fetch helper that sends the CSRF token. No inline scripts: the
// pages' Content-Security-Policy allows scripts from files only.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // JSON POST with the CSRF header Flask-WTF checks.
  window.balancerPost = function (url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {})
    });
  };

  document.addEventListener("DOMContentLoaded", function () {
    // A header checkbox that selects every row checkbox of its table.
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      var selector = box.getAttribute("data-select-all");
      box.addEventListener("change", function () {
        document.querySelectorAll(selector).forEach(function (row) { row.checked = box.checked; });
        updateSelection();
      });
    });
    document.querySelectorAll("[data-row-select]").forEach(function (row) {
      row.addEventListener("change", updateSelection);
    });
    updateSelection();

    // The page that shows a new token answers the form's POST: turn its history entry
    // into a plain GET of the same URL, so a reload shows the list and creates nothing.
    if (document.getElementById("token-value") && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.href);
    }

    // Buttons that copy a value (the one-time token).
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target || !navigator.clipboard) return;
        navigator.clipboard.writeText(target.value || target.textContent).then(function () {
          button.textContent = "Copied";
        });
      });
    });

    // A row's "test now" answers in place: a JSON post, the result shown above the table.
    // Without scripts the same button posts the form and gets a results page.
    document.querySelectorAll('#bulk button[name="action"][value^="test:"]').forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        var id = parseInt(button.value.split(":")[1], 10);
        button.disabled = true;
        showResult("info", "Testing key " + id + "…");
        // getAttribute: the form's "action" property is its buttons named action.
        window.balancerPost(button.form.getAttribute("action"), { action: "test", ids: [id] })
          .then(function (resp) { return resp.json().then(function (body) { return [resp, body]; }); })
          .then(function (pair) {
            var resp = pair[0], body = pair[1];
            if (!resp.ok) {
              var error = body.error && (body.error.message || body.error);
              showResult("danger", typeof error === "string" ? error : "The test failed (" + resp.status + ").");
              return;
            }
            var r = (body.results || [])[0];
            if (!r) { showResult(body.category || "warning", body.message); return; }
            var text = r.display + " (#" + r.key_id + "): " + (r.ok ? "works" : "failed") +
              (r.status ? ", HTTP " + r.status : "") + ", " + r.latency_ms + " ms" +
              (r.ok ? "" : " — " + r.reason + (r.message && r.message !== r.reason ? ": " + r.message : ""));
            if (r.effect === "disabled") text += " The key is dead: it was disabled.";
            if (r.effect === "restored") text += " The key works again: it is back in use.";
            showResult(r.ok ? "success" : "danger", text);
            if (r.effect) markRow(r.key_id, r.effect === "disabled" ? "dead" : "active");
          })
          .catch(function () { showResult("danger", "Balancer did not answer; try again."); })
          .finally(function () { button.disabled = false; });
      });
    });

    // Selects that submit their form when changed (filters, page size).
    document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { if (el.form) el.form.submit(); });
    });
  });

  function showResult(category, message) {
    var box = document.getElementById("action-result");
    if (!box) return;
    box.className = "alert alert-" + category;
    box.textContent = message;
    box.hidden = false;
  }

  function markRow(keyId, word) {
    var row = document.querySelector('tr[data-key-id="' + keyId + '"]');
    var badge = row && row.querySelector(".badge");
    if (!badge) return;
    badge.textContent = word;
    badge.className = "badge text-bg-" + (word === "dead" ? "danger" : "success");
    row.setAttribute("data-status", word === "dead" ? "disabled" : "active");
  }

  // Bulk buttons say how many keys they act on, and are off while none is selected.
  function updateSelection() {
    var count = document.querySelectorAll("[data-row-select]:checked").length;
    document.querySelectorAll("[data-selection-count]").forEach(function (el) {
      el.textContent = String(count);
    });
    document.querySelectorAll("[data-needs-selection]").forEach(function (el) {
      el.disabled = count === 0;
    });
  }
})();
