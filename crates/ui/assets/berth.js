// Berth web UI: the only script. Copy buttons put their data-copy text on the clipboard;
// forms with data-confirm ask first. No inline script exists (the CSP forbids it).
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.copy[data-copy]");
  if (!button) { return; }
  var text = button.getAttribute("data-copy");
  var done = function () {
    button.classList.add("copied");
    button.textContent = "Copied";
    setTimeout(function () { button.classList.remove("copied"); button.textContent = "Copy"; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Copy failed"; });
  } else {
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } catch (e) { button.textContent = "Copy failed"; }
    document.body.removeChild(area);
  }
});
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) { event.preventDefault(); }
});
