/* stemweb polling: fragments that poll (hx-trigger="every 2s, stemweb:visible from:document")
 * stay quiet while their tab is hidden, and refresh at once when it is shown again.
 *
 * htmx's own way, an event filter (`every 2s [!document.hidden]`), is evaluated with eval, which
 * the Content-Security-Policy forbids (htmx runs with allowEval off). So the poll still ticks in
 * a hidden tab, but its request is cancelled before it is sent. The terminal render drops the
 * trigger, so polling stops by itself.
 *
 * A running job's elapsed clock (`.elapsed[data-started]`, Unix seconds) ticks here, not on the
 * server: the fragment then stays the same between progress changes, so its poll gets a 304
 * and the browser hands htmx the copy it already has, whose clock this sets again.
 */
(function () {
  "use strict";
  const POLLS = /(^|,)\s*every\s/;

  document.addEventListener("htmx:beforeRequest", function (event) {
    const trigger = event.detail.elt.getAttribute("hx-trigger") || "";
    if (document.hidden && POLLS.test(trigger)) event.preventDefault();
  });

  function clock(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }

  function tick() {
    document.querySelectorAll(".elapsed[data-started]").forEach(function (el) {
      el.textContent = clock(Date.now() / 1000 - Number(el.dataset.started)) + " elapsed";
    });
  }

  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) document.dispatchEvent(new CustomEvent("stemweb:visible"));
  });
})();
