/* stemweb mixer: every stem and the mixture play in sync from one transport. The project page's
 * source player is a mixer of one track.
 *
 * Each track is an <audio preload="metadata"> streaming its file with Range requests, so playback
 * starts without downloading whole files. Waveforms are drawn from the peaks the worker stored
 * (a small JSON per stem); the browser never decodes audio to draw. One track is the clock; the
 * others are nudged back when they drift more than 40 ms. Mute and solo only change .muted, so
 * every track keeps its place in time.
 */
(function () {
  "use strict";
  const DRIFT_S = 0.04;
  let active = null; // the mixer the keyboard drives

  function clock(seconds) {
    if (!isFinite(seconds)) seconds = 0;
    const s = Math.floor(seconds % 60), m = Math.floor(seconds / 60);
    return m + ":" + String(s).padStart(2, "0");
  }

  function Mixer(root) {
    this.root = root;
    this.duration = parseFloat(root.dataset.duration) || 0;
    this.compare = JSON.parse(root.dataset.compare || "[]");
    this.tracks = Array.from(root.querySelectorAll(".track")).map(function (el) {
      const audio = el.querySelector("audio");
      return { el: el, name: el.dataset.stem, audio: audio, original: audio.getAttribute("src"),
               canvas: el.querySelector("canvas"), peaks: null,
               muted: el.dataset.muted === "true", solo: false, volume: 1 };
    });
    this.playing = false;
    this.bind();
    this.apply();
    this.loadPeaks();
    this.resize();
    // A/B from a link (/jobs/<id>/?compare=<other>): the page selected the other job.
    const compare = root.querySelector("[data-action=compare]");
    if (compare && compare.value) this.switchTo(compare.value);
  }

  Mixer.prototype.master = function () { return this.tracks[0].audio; };
  Mixer.prototype.now = function () { return this.master().currentTime || 0; };

  Mixer.prototype.bind = function () {
    const self = this;
    self.root.addEventListener("click", function (event) {
      const button = event.target.closest("[data-action]");
      if (!button || button.tagName === "SELECT" || button.tagName === "INPUT") return;
      const track = self.trackOf(button);
      const action = button.dataset.action;
      if (action === "play") self.toggle();
      else if (action === "mute" && track) { track.muted = !track.muted; self.apply(); }
      else if (action === "solo" && track) { track.solo = !track.solo; self.apply(); }
    });
    self.root.addEventListener("input", function (event) {
      if (event.target.dataset.action !== "volume") return;
      const track = self.trackOf(event.target);
      track.volume = parseFloat(event.target.value);
      self.apply();
    });
    self.root.addEventListener("change", function (event) {
      if (event.target.dataset.action === "compare") self.switchTo(event.target.value);
    });
    self.tracks.forEach(function (track) {
      track.canvas.addEventListener("click", function (event) {
        const box = track.canvas.getBoundingClientRect();
        self.seek(((event.clientX - box.left) / box.width) * self.length());
      });
    });
    self.master().addEventListener("ended", function () { self.pause(); });
    self.master().addEventListener("loadedmetadata", function () { self.draw(); });
    self.root.addEventListener("pointerdown", function () { active = self; });
    window.addEventListener("resize", function () { self.resize(); });
    active = active || self;
  };

  Mixer.prototype.trackOf = function (el) {
    const row = el.closest(".track");
    return this.tracks.find(function (t) { return t.el === row; });
  };

  Mixer.prototype.length = function () {
    const d = this.master().duration;
    return isFinite(d) && d > 0 ? d : this.duration;
  };

  Mixer.prototype.apply = function () {
    const anySolo = this.tracks.some(function (t) { return t.solo; });
    const form = document.querySelector(".custom-mix form");
    this.tracks.forEach(function (t) {
      const silent = t.muted || (anySolo && !t.solo);
      t.audio.muted = silent;
      t.audio.volume = Math.max(0, Math.min(1, t.volume));
      t.el.classList.toggle("is-muted", silent);
      // a lone player (the project page's source) has no mute or solo
      const mute = t.el.querySelector("[data-action=mute]");
      const solo = t.el.querySelector("[data-action=solo]");
      if (mute) mute.setAttribute("aria-pressed", String(t.muted));
      if (solo) solo.setAttribute("aria-pressed", String(t.solo));
      if (form) { // keep the custom-mix form in step with what is heard
        const use = form.querySelector('[data-mix-use="' + t.name + '"]');
        const gain = form.querySelector('[data-mix-gain="' + t.name + '"]');
        if (use) use.checked = !silent && t.volume > 0;
        if (gain && t.volume > 0) gain.value = (20 * Math.log10(t.volume)).toFixed(1);
      }
    });
  };

  Mixer.prototype.play = function () {
    const self = this, at = self.now();
    self.tracks.forEach(function (t) { if (Math.abs(t.audio.currentTime - at) > DRIFT_S) t.audio.currentTime = at; });
    Promise.all(self.tracks.map(function (t) { return t.audio.play().catch(function () {}); }));
    self.playing = true;
    self.root.classList.add("playing");
    self.root.querySelector("[data-action=play]").textContent = "Pause";
    clearInterval(self.syncTimer);
    self.syncTimer = setInterval(function () { self.sync(); }, 250);
    requestAnimationFrame(function frame() { self.draw(); if (self.playing) requestAnimationFrame(frame); });
  };

  Mixer.prototype.pause = function () {
    this.tracks.forEach(function (t) { t.audio.pause(); });
    this.playing = false;
    clearInterval(this.syncTimer);
    this.root.classList.remove("playing");
    this.root.querySelector("[data-action=play]").textContent = "Play";
    this.draw();
  };

  Mixer.prototype.toggle = function () { if (this.playing) this.pause(); else this.play(); };

  Mixer.prototype.sync = function () {
    const at = this.now();
    this.tracks.forEach(function (t) { if (Math.abs(t.audio.currentTime - at) > DRIFT_S) t.audio.currentTime = at; });
  };

  Mixer.prototype.seek = function (seconds) {
    const at = Math.max(0, Math.min(this.length(), seconds));
    this.tracks.forEach(function (t) { t.audio.currentTime = at; });
    this.draw(at);
  };

  Mixer.prototype.switchTo = function (jobId) {
    // A/B: the same stems from another job, at the same playhead.
    const other = this.compare.find(function (c) { return c.id === jobId; });
    const at = this.now(), wasPlaying = this.playing;
    if (wasPlaying) this.pause();
    this.tracks.forEach(function (t) {
      const src = other && other.stems[t.name] ? other.stems[t.name] : t.original;
      if (t.audio.getAttribute("src") !== src) {
        t.audio.setAttribute("src", src);
        t.audio.addEventListener("loadedmetadata", function once() {
          t.audio.removeEventListener("loadedmetadata", once);
          t.audio.currentTime = at;
        });
        t.audio.load();
      }
    });
    this.root.dataset.comparing = jobId || "";
    if (wasPlaying) this.play();
  };

  Mixer.prototype.loadPeaks = function () {
    const self = this;
    self.tracks.forEach(function (t) {
      const url = t.el.dataset.peaks;
      if (!url) return;
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { t.peaks = data.peaks; self.draw(); } });
    });
  };

  Mixer.prototype.resize = function () {
    this.tracks.forEach(function (t) {
      t.canvas.width = Math.max(200, Math.floor(t.canvas.clientWidth * (window.devicePixelRatio || 1)));
    });
    this.draw();
  };

  Mixer.prototype.draw = function (at) {
    const time = at === undefined ? this.now() : at;
    const total = this.length() || 1;
    this.root.querySelector(".now").textContent = clock(time);
    this.root.querySelector(".total").textContent = clock(total);
    this.tracks.forEach(function (t) {
      const ctx = t.canvas.getContext("2d"), w = t.canvas.width, h = t.canvas.height;
      const split = Math.floor((time / total) * w);
      ctx.clearRect(0, 0, w, h);
      const peaks = t.peaks;
      for (let x = 0; x < w; x++) {
        const v = peaks ? peaks[Math.floor((x / w) * peaks.length)] : 0.02;
        const bar = Math.max(1, v * (h - 2));
        ctx.fillStyle = x < split ? "#3050d8" : t.audio.muted ? "#d5d9e2" : "#9aa6c4";
        ctx.fillRect(x, (h - bar) / 2, 1, bar);
      }
    });
  };

  function init(scope) {
    (scope.querySelectorAll ? scope.querySelectorAll(".mixer") : []).forEach(function (root) {
      if (root.mixer) return;
      root.mixer = new Mixer(root);
      root.dataset.ready = "true"; // what browser tests wait for before they drive it
    });
  }

  document.addEventListener("keydown", function (event) {
    if (!active || !document.body.contains(active.root)) return;
    if (event.target.closest("input, select, textarea, button")) return;
    if (event.key === " ") { event.preventDefault(); active.toggle(); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); active.seek(active.now() - 5); }
    else if (event.key === "ArrowRight") { event.preventDefault(); active.seek(active.now() + 5); }
    else if (/^[1-9]$/.test(event.key)) {
      const track = active.tracks[parseInt(event.key, 10) - 1];
      if (track) { track.muted = !track.muted; active.apply(); }
    }
  });
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
})();
