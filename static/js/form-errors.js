// A form sent back with errors: move the focus to its summary, so that a keyboard or
// screen-reader user starts from the list of what to correct (each item links to its
// field).
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
})();
