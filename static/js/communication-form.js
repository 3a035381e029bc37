// The communication form: insert placeholders at the cursor, show the fields of the
// chosen frequency, and refresh the recipients summary while the form is filled.
(function () {
  "use strict";
  var form = document.querySelector(".communication-form");
  if (!form) return;

  // --- Placeholders ------------------------------------------------------------------
  var subject = form.querySelector("[name=subject]");
  var message = form.querySelector("[name=message]");
  var target = message;
  [subject, message].forEach(function (field) {
    if (field) field.addEventListener("focus", function () { target = field; });
  });
  form.querySelectorAll("[data-placeholder]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!target || target.disabled) return;
      var text = "{" + button.dataset.placeholder + "}";
      var start = target.selectionStart, end = target.selectionEnd;
      if (typeof start !== "number") { start = end = target.value.length; }
      target.setRangeText(text, start, end, "end");
      target.focus();
      target.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });

  // --- Evaluation: tick the groups that have a window ------------------------------------
  var evaluation = form.querySelector("select[name=evaluation]");
  if (evaluation) {
    evaluation.addEventListener("change", function () {
      var option = evaluation.options[evaluation.selectedIndex];
      var groups = (option && option.dataset.groups || "").split(" ");
      form.querySelectorAll("[name=groups]").forEach(function (box) {
        box.checked = groups.indexOf(box.value) !== -1;
      });
    });
  }

  // --- Frequency ----------------------------------------------------------------------
  function showFrequencyFields() {
    var checked = form.querySelector("[name=frequency]:checked");
    var value = checked ? checked.value : "once";
    form.querySelectorAll("[data-frequency]").forEach(function (block) {
      block.hidden = block.dataset.frequency.split(" ").indexOf(value) === -1;
    });
  }
  form.querySelectorAll("[name=frequency]").forEach(function (radio) {
    radio.addEventListener("change", showFrequencyFields);
  });
  showFrequencyFields();

  // --- Holidays: the choice between skipping and moving, once the box is ticked ---------
  form.querySelectorAll("[data-shown-by]").forEach(function (block) {
    var box = form.querySelector("[name=" + block.dataset.shownBy + "]");
    if (!box) return;
    function follow() { block.hidden = !box.checked; }
    box.addEventListener("change", follow);
    follow();
  });

  // --- Live recipients summary -------------------------------------------------------
  var region = document.getElementById("audience");
  var url = form.dataset.audienceUrl;
  if (!region || !url) return;
  var timer = null, pending = null;
  function refresh() {
    if (pending) pending.abort();
    pending = new AbortController();
    var data = new FormData(form);
    fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
      signal: pending.signal,
    })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) region.innerHTML = html; })
      .catch(function () { /* a newer request replaced this one */ });
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }
  var watched = "[name=groups], [name=evaluation], [name=max_minutes], [name=minutes_days]," +
    " [name=max_level], [name=min_level], [name=never_started], [name=inactive_days]";
  form.querySelectorAll(watched).forEach(function (field) {
    field.addEventListener("input", schedule);
    field.addEventListener("change", schedule);
  });
  refresh();
})();
