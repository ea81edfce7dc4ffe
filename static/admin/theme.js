// Dark or light mode, remembered in localStorage. Loaded in <head> so the saved
// theme is applied before the first paint (no flash of the other theme).
(function () {
  "use strict";
  var KEY = "balancer-theme";
  function saved() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function preferred() {
    var value = saved();
    if (value === "dark" || value === "light") return value;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function apply(theme) {
    document.documentElement.setAttribute("data-bs-theme", theme);
    var button = document.getElementById("theme-toggle");
    if (button) {
      button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
      var icon = button.querySelector(".bi");
      if (icon) icon.className = "bi " + (theme === "dark" ? "bi-sun" : "bi-moon-stars");
    }
  }
  apply(preferred());
  document.addEventListener("DOMContentLoaded", function () {
    apply(preferred());
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", function () {
      var next = document.documentElement.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
      try { localStorage.setItem(KEY, next); } catch (e) { /* private mode: not remembered */ }
      apply(next);
      document.dispatchEvent(new CustomEvent("balancer:theme", { detail: next }));
    });
  });
})();
