// Links with data-opens-dialog open a native <dialog> instead of their fallback page.
(function () {
  "use strict";
  document.querySelectorAll("[data-opens-dialog]").forEach(function (link) {
    var dialog = document.getElementById(link.dataset.opensDialog);
    if (!dialog || typeof dialog.showModal !== "function") return;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      dialog.showModal();
    });
    dialog.querySelectorAll("[data-closes-dialog]").forEach(function (button) {
      button.addEventListener("click", function () { dialog.close(); link.focus(); });
    });
  });
})();
