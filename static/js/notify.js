/* stemweb notifications: when a job the signed-in person started ends, the browser says so, from
 * any of the site's pages, in a hidden tab too. (The job page's status poll, polling.js, waits
 * while its tab is hidden on purpose: it redraws the page. This one only tells, and is cheap.)
 *
 * It never asks for the permission itself: upload.js asks at the first upload. Until the
 * browser has granted it, nothing is requested. Then, every data-poll-s seconds (base.html),
 * GET data-ended-url?since=<cursor> answers {"now": "<ISO time>", "jobs": [{id, url, title,
 * body}, ...]}: the jobs that ended after the cursor (none on the first call, which has no
 * cursor); "now" is the next cursor. The cursor lives in localStorage, shared by the site's
 * tabs and kept across page loads, so a job that ends while a page loads is not passed over and
 * one tab's notice is not repeated by the next. Two tabs polling at once may both show a job:
 * the tag "stemweb-job-<id>" makes the browser keep one. Clicking a notice focuses its window
 * and opens the job's page.
 */
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || !("Notification" in window) || !window.fetch) return;
  const endedUrl = script.dataset.endedUrl;
  const every = Math.max(1, Number(script.dataset.pollS) || 20) * 1000;
  const CURSOR = "stemweb:notified-until";

  function cursor() {
    try {
      return window.localStorage.getItem(CURSOR);
    } catch (error) {
      return null; // storage refused (private mode): every page starts afresh
    }
  }

  function setCursor(now) {
    try {
      const old = cursor();
      if (now === null) window.localStorage.removeItem(CURSOR);
      else if (!old || Date.parse(now) > Date.parse(old)) window.localStorage.setItem(CURSOR, now);
    } catch (error) {
      /* storage refused */
    }
  }

  function show(job) {
    let notice;
    try {
      notice = new Notification(job.title, { body: job.body, tag: "stemweb-job-" + job.id });
    } catch (error) {
      return; // a browser that only notifies from a service worker (Chrome on Android)
    }
    notice.addEventListener("click", () => {
      window.focus();
      window.location.assign(job.url);
      notice.close();
    });
  }

  // Whether to go on: not once signed out (a redirect to the login page) or refused.
  async function poll() {
    const since = cursor();
    const query = since ? "?" + new URLSearchParams({ since: since }) : "";
    const response = await fetch(endedUrl + query, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      redirect: "manual",
    });
    if (response.status === 400) {
      setCursor(null); // not a time the server reads: start afresh
      return true;
    }
    if (response.type === "opaqueredirect" || (response.status > 400 && response.status < 500)) {
      return false;
    }
    if (response.ok) {
      const answer = await response.json();
      answer.jobs.forEach(show);
      setCursor(answer.now);
    }
    return true; // a server error or an outage: try again at the next tick
  }

  function tick() {
    const asked = Notification.permission === "granted" ? poll() : Promise.resolve(true);
    asked
      .catch(() => true)
      .then((goOn) => {
        if (goOn) window.setTimeout(tick, every);
      });
  }

  tick();
})();
