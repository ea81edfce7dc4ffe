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

    // Selects that submit their form when changed (filters, page size).
    document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { if (el.form) el.form.submit(); });
    });
  });

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
