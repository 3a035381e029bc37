// « Afficher le mot de passe » / « Masquer le mot de passe » in a message preview. The
// page holds the password only once revealed: a click asks the server for the preview
// in the other state (the link's address, or the form posted with the button's action)
// and puts it in place of the current one, without reloading the page. Without
// JavaScript, or if that request fails, the link or the button loads the whole page.
(function () {
  "use strict";

  function fetchOtherState(control) {
    if (control.tagName === "A") {
      return fetch(control.href, { credentials: "same-origin" });
    }
    var form = control.form;
    var data = new FormData(form);
    data.append(control.name, control.value);
    // Not form.action: the form's buttons named "action" shadow that property.
    var url = new URL(form.getAttribute("action") || "", window.location.href);
    return fetch(url.href, { method: "POST", body: data, credentials: "same-origin" });
  }

  function fallBack(control) {
    if (control.tagName === "A") {
      window.location.assign(control.href);
    } else if (typeof control.form.requestSubmit === "function") {
      control.form.requestSubmit(control);
    } else {
      control.form.submit();
    }
  }

  document.addEventListener("click", function (event) {
    var control = event.target.closest("[data-preview-swap]");
    var current = document.getElementById("message-preview");
    if (!control || !current || !window.fetch || !window.DOMParser) return;
    event.preventDefault();
    if (control.getAttribute("aria-disabled") === "true") return;  // already asked
    control.setAttribute("aria-disabled", "true");
    fetchOtherState(control)
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("message-preview");
        if (!fresh) throw new Error("no preview in the response");
        current.replaceWith(document.adoptNode(fresh));
        // Keyboard and screen reader users land on the control of the new state.
        var next = fresh.querySelector("[data-preview-swap]") || fresh;
        next.focus();
      })
      .catch(function () {
        control.removeAttribute("aria-disabled");
        fallBack(control);
      });
  });
})();
