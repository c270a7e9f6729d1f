/* stemweb polling: fragments that poll (hx-trigger="every 2s, stemweb:visible from:document")
 * stay quiet while their tab is hidden, and refresh at once when it is shown again.
 *
 * htmx's own way, an event filter (`every 2s [!document.hidden]`), is evaluated with eval, which
 * the Content-Security-Policy forbids (htmx runs with allowEval off). So the poll still ticks in
 * a hidden tab, but its request is cancelled before it is sent. The terminal render drops the
 * trigger, so polling stops by itself.
 */
(function () {
  "use strict";
  const POLLS = /(^|,)\s*every\s/;

  document.addEventListener("htmx:beforeRequest", function (event) {
    const trigger = event.detail.elt.getAttribute("hx-trigger") || "";
    if (document.hidden && POLLS.test(trigger)) event.preventDefault();
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) document.dispatchEvent(new CustomEvent("stemweb:visible"));
  });
})();
