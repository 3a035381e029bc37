// A form sent back with errors (or a save to confirm): move the focus to its summary, so that a keyboard or
// screen-reader user starts from the list of what to correct (each item links to its
// field).
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary, .confirmation");
  if (summary) summary.focus();
})();
