// Small enhancements of the server-rendered pages. Every page works without them.
"use strict";

function formatSize(bytes) {
  return bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// Show the chosen photos before they are sent.
function showPreviews(input) {
  const box = input.closest("[data-drop-zone]")?.querySelector("[data-previews]");
  if (!box) return;
  box.querySelectorAll("img").forEach((img) => URL.revokeObjectURL(img.src));
  box.replaceChildren(
    ...Array.from(input.files, (file) => {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = "";
      const caption = document.createElement("figcaption");
      caption.textContent = `${file.name} · ${formatSize(file.size)}`;
      figure.append(img, caption);
      return figure;
    }),
  );
}

// Photos dropped on the zone become the file input's selection.
function enableDropZone(zone) {
  const input = zone.querySelector("input[type=file]");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("is-dragging");
  });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("is-dragging");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("is-dragging");
    const dropped = Array.from(event.dataTransfer.files);
    const selection = new DataTransfer();
    (input.multiple ? dropped : dropped.slice(0, 1)).forEach((file) => selection.items.add(file));
    input.files = selection.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
}

// A matched photo is not stored, so the server does not know its size: take it from the image
// once it has loaded, then show the face box (templates/records/_face_photo.html).
function sizeFaceBoxes(root) {
  root.querySelectorAll(".face-photo").forEach((figure) => {
    const svg = figure.querySelector("svg[hidden]");
    const img = figure.querySelector("img");
    if (!svg) return;
    const show = () => {
      svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
      svg.removeAttribute("hidden");
    };
    if (img.complete && img.naturalWidth) show();
    else img.addEventListener("load", show, { once: true });
  });
}

function showBusy(form, text) {
  const label = form.querySelector("[data-busy-text]");
  if (label) {
    label.textContent = text;
    label.hidden = false;
  }
  form.querySelectorAll("button[type=submit]").forEach((button) => (button.disabled = true));
}

function hideBusy(form) {
  const label = form.querySelector("[data-busy-text]");
  if (label) label.hidden = true;
  form.querySelectorAll("button[type=submit]").forEach((button) => (button.disabled = false));
}

// The match form is sent in the background: the chosen photo stays selected, so the result can be
// tried again at another threshold, and the upload's progress shows while it runs. A photo is sent
// once: a refusal (413, a lost connection) is shown in the result section, never sent again.
function enableAsyncForm(form) {
  const selector = form.dataset.asyncTarget;
  const progress = form.querySelector("[data-upload-progress]");
  let action = form.action; // the button pressed last ("Match", or "… nearest people"), kept for "stricter"
  const done = (result) => {
    document.querySelector(selector).replaceWith(result);
    progress.hidden = true;
    hideBusy(form);
    activate(result);
    result.scrollIntoView({ block: "nearest" });
  };
  const refused = (message) => {
    const section = document.createElement("section");
    section.id = selector.slice(1);
    section.className = "match-result";
    const alert = document.createElement("div");
    alert.className = "alert alert--error";
    alert.setAttribute("role", "alert");
    alert.textContent = message;
    section.append(alert);
    done(section);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (event.submitter) action = event.submitter.hasAttribute("formaction") ? event.submitter.formAction : form.action;
    const request = new XMLHttpRequest();
    request.open("POST", action);
    request.upload.addEventListener("progress", (progressEvent) => {
      if (!progressEvent.lengthComputable) return;
      progress.max = progressEvent.total;
      progress.value = progressEvent.loaded;
    });
    request.upload.addEventListener("load", () => {
      progress.removeAttribute("value"); // indeterminate while the server looks for faces
      showBusy(form, "Looking for faces and comparing…");
    });
    request.addEventListener("load", () => {
      const page = new DOMParser().parseFromString(request.responseText, "text/html");
      const result = page.querySelector(selector);
      if (result) done(result);
      else if (request.status >= 400) {
        const reason = page.querySelector("main [role=alert]") || page.querySelector("main h1");
        refused(reason ? reason.textContent.trim() : `The server refused the photo (${request.status}).`);
      } else window.location.assign(request.responseURL); // another page (the session ended): show it
    });
    request.addEventListener("error", () => refused("The photo could not be sent: check the connection and try again."));
    progress.hidden = false;
    progress.removeAttribute("value");
    showBusy(form, "Uploading…");
    request.send(new FormData(form));
  });
}

// "Stricter" / "looser": match the same photo again with another threshold.
function enableThresholdControls(root) {
  const form = document.querySelector("form[data-async-target]");
  if (!form || !form.elements.photo?.files.length) return;
  root.querySelectorAll("[data-threshold-controls]").forEach((controls) => (controls.hidden = false));
  root.querySelectorAll("button[data-threshold]").forEach((button) =>
    button.addEventListener("click", () => {
      form.elements.threshold.value = button.dataset.threshold;
      form.requestSubmit();
    }),
  );
}

function activate(root) {
  sizeFaceBoxes(root);
  enableThresholdControls(root);
}

document.querySelectorAll("input[type=file][data-preview]").forEach((input) =>
  input.addEventListener("change", () => showPreviews(input)),
);
document.querySelectorAll("[data-drop-zone]").forEach(enableDropZone);
document.querySelectorAll("form[data-busy]").forEach((form) =>
  form.addEventListener("submit", () => showBusy(form, form.dataset.busy)),
);
document.querySelectorAll("form[data-confirm]").forEach((form) =>
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }),
);
document.querySelectorAll("form[data-async-target]").forEach(enableAsyncForm);
activate(document);
// A page restored from the back/forward cache must not keep its buttons disabled.
window.addEventListener("pageshow", () => document.querySelectorAll("form[data-busy]").forEach(hideBusy));
