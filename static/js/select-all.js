// « Tout sélectionner »: a checkbox in a table header checks or unchecks every box of
// the same name. The box is hidden in the HTML and shown only when this script runs.
(function () {
  "use strict";
  document.querySelectorAll("input[data-select-all]").forEach(function (master) {
    var form = master.form;
    var name = master.getAttribute("data-select-all");
    function boxes() {
      return Array.prototype.slice.call(
        form.querySelectorAll('input[type="checkbox"][name="' + name + '"]')
      );
    }
    function sync() {
      var all = boxes();
      var checked = all.filter(function (box) { return box.checked; }).length;
      master.checked = all.length > 0 && checked === all.length;
      master.indeterminate = checked > 0 && checked < all.length;
    }
    master.hidden = false;
    master.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = master.checked; });
      master.indeterminate = false;
    });
    form.addEventListener("change", function (event) {
      if (event.target !== master) { sync(); }
    });
    sync();
  });
})();
