// The upload page, enhanced (it works as a plain one-file form without this script):
// - the stem sets on offer follow the chosen provider, switched in place (files stay chosen),
//   and a platform track's fields show only for a provider that takes one (Suno-style);
// - several files at once, chosen or dropped on the page: each gets a row with its upload
//   progress (XHR upload progress), then the server's verdict for it, then a link to its job.
//   Files are posted one after another, each with the form's other fields and the header
//   "X-Stemweb-Upload: batch" (jobs/views/projects.py answers with one row's fragment);
// - the browser's permission to notify is asked for at the first upload, never at page load.
// Once all of that is in place the form carries data-ready="true" (what browser tests wait for).
(function () {
  "use strict";

  const form = document.querySelector("[data-upload-form]");
  if (!form) return;
  const rows = document.querySelector("[data-upload-rows]");
  const fileInput = form.querySelector('input[type="file"][name="file"]');
  const nameInput = form.querySelector('input[name="name"]');
  const providers = Array.from(form.querySelectorAll('input[name="provider"]'));
  const stemSets = Array.from(form.querySelectorAll("[data-stem-set]"));
  const platformFields = Array.from(form.querySelectorAll("[data-platform-track]"));

  form.querySelectorAll("[data-js-only]").forEach((el) => { el.hidden = false; });

  function chosenProvider() {
    return providers.find((p) => p.checked) || null;
  }

  // Only the chosen provider's stem sets can be picked; a choice it lacks moves to its first.
  // A platform track's fields show only for a provider that takes one instead of a file.
  function followProvider() {
    const provider = chosenProvider();
    if (!provider) return;
    const takesFiles = provider.dataset.needsUpload === "true";
    platformFields.forEach((field) => { field.hidden = takesFiles; });
    const offered = provider.dataset.stemSets.split(" ");
    let checkedStillOffered = false;
    stemSets.forEach((label) => {
      const radio = label.querySelector("input");
      const on = offered.includes(label.dataset.stemSet);
      label.hidden = !on;
      radio.disabled = !on;
      if (on && radio.checked) checkedStillOffered = true;
    });
    if (!checkedStillOffered) {
      const first = stemSets.find((label) => !label.hidden);
      if (first) first.querySelector("input").checked = true;
    }
  }
  providers.forEach((p) => p.addEventListener("change", followProvider));
  followProvider();

  if (!fileInput || !rows || !window.FormData || !window.XMLHttpRequest) return;
  fileInput.multiple = true;

  // Drop files anywhere on the page: they become the chosen files.
  document.addEventListener("dragover", (event) => {
    if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) {
      event.preventDefault();
      form.classList.add("dropping");
    }
  });
  document.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) form.classList.remove("dropping");
  });
  document.addEventListener("drop", (event) => {
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    form.classList.remove("dropping");
    fileInput.files = event.dataTransfer.files;
    fileInput.dispatchEvent(new Event("change", { bubbles: true }));
  });

  function askToNotify() {
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
  }

  function makeRow(file) {
    const row = document.createElement("li");
    row.className = "upload-row";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", "Upload of " + file.name);
    const state = document.createElement("span");
    state.className = "upload-state";
    state.textContent = "Waiting";
    const result = document.createElement("div");
    result.className = "upload-outcome";
    row.append(name, progress, state, result);
    rows.append(row);
    return { row, progress, state, result };
  }

  function send(file, parts, single) {
    return new Promise((resolve) => {
      const data = new FormData(form);
      data.delete("file");
      data.append("file", file, file.name);
      if (!single) data.set("name", ""); // each file is named after itself
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.setRequestHeader("X-Stemweb-Upload", "batch");
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) {
          parts.progress.value = Math.round((event.loaded / event.total) * 100);
        }
      });
      xhr.upload.addEventListener("load", () => {
        parts.progress.value = 100;
        parts.state.textContent = "Checking";
      });
      xhr.addEventListener("load", () => {
        const fragment = new DOMParser().parseFromString(xhr.responseText, "text/html");
        const answer = fragment.querySelector("[data-upload-result]");
        parts.row.dataset.outcome = xhr.status === 201 ? "queued" : "refused";
        if (answer) {
          parts.result.replaceChildren(document.adoptNode(answer));
        } else {
          const error = document.createElement("p");
          error.className = "error";
          error.textContent = "Refused by the server (HTTP " + xhr.status + ").";
          parts.result.replaceChildren(error);
        }
        parts.state.textContent = xhr.status === 201 ? "Queued" : "Refused";
        resolve();
      });
      xhr.addEventListener("error", () => {
        parts.row.dataset.outcome = "refused";
        parts.state.textContent = "Not sent: the connection failed";
        resolve();
      });
      parts.state.textContent = "Uploading";
      xhr.send(data);
    });
  }

  form.addEventListener("submit", async (event) => {
    const provider = chosenProvider();
    const files = Array.from(fileInput.files || []);
    // A platform track (no file) or nothing chosen: the plain form post says what is missing.
    if (!provider || provider.dataset.needsUpload !== "true" || files.length === 0) return;
    event.preventDefault();
    askToNotify();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const batch = files.map((file) => [file, makeRow(file)]);
    for (const [file, parts] of batch) {
      await send(file, parts, files.length === 1 && nameInput !== null);
    }
    const only = batch.length === 1 ? batch[0][1] : null;
    const link = only && only.row.dataset.outcome === "queued" && only.result.querySelector("a");
    if (link) {
      window.location.assign(link.href); // one file: on to its job page, as without script
      return;
    }
    fileInput.value = "";
    button.disabled = false;
  });
  form.dataset.ready = "true";
})();
