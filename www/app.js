// Marks the page once this script has run, so a headless browser can tell that staticd served
// the script with a type the browser accepts.
"use strict";

(function markReady() {
  document.documentElement.dataset.staticdReady = "yes";
  var status = document.getElementById("js-status");
  if (status) {
    status.textContent = "JavaScript loaded.";
    status.classList.add("ok");
  }
})();
