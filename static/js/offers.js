/* stemweb dependent choices: a <select data-offered-by="ID"> enables only the options that the
 * option chosen in the select #ID lists in its data-offers (values separated by spaces), e.g.
 * the stem sets of the provider chosen to separate a project again. The server refuses any other
 * combination with the same message as the upload page; this only spares the round trip.
 */
(function () {
  "use strict";

  function restrict(select, owner) {
    const chosen = owner.options[owner.selectedIndex];
    const offers = chosen ? (chosen.dataset.offers || "").split(/\s+/) : [];
    const options = Array.from(select.options);
    options.forEach(function (option) { option.disabled = offers.indexOf(option.value) === -1; });
    const current = select.options[select.selectedIndex];
    if (!current || current.disabled) {
      const first = options.find(function (option) { return !option.disabled; });
      if (first) select.value = first.value;
    }
  }

  function init(scope) {
    scope.querySelectorAll("select[data-offered-by]").forEach(function (select) {
      const owner = document.getElementById(select.dataset.offeredBy);
      if (!owner || select.dataset.offersBound) return;
      select.dataset.offersBound = "true";
      owner.addEventListener("change", function () { restrict(select, owner); });
      restrict(select, owner);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
})();
