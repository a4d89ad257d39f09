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

// Phone photos are large (12 MP, 3-5 MB): before a photo is sent, one above SHRINK_ABOVE bytes or
// MAX_SIDE pixels is redrawn upright at most MAX_SIDE pixels on its longer side, as a JPEG. That keeps
// far more pixels than the face detector uses (640 a side), even for small faces in a group photo.
const MAX_SIDE = 2560;
const SHRINK_ABOVE = 1.5 * 1024 * 1024;

async function shrunk(file) {
  if (!file.type.startsWith("image/") || !window.createImageBitmap) return file;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return file; // not an image this browser decodes: the server says what is wrong with it
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  if (scale === 1 && file.size <= SHRINK_ABOVE) return file;
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
  if (!blob || blob.size >= file.size) return file;
  return new File([blob], file.name.replace(/\.[^.]*$/, "") + ".jpg", { type: "image/jpeg" });
}

// Every photo input of the form shrunk as above; then what would be refused for its size is said
// before anything is sent (the limits are on <body>, from the server's settings).
async function preparePhotos(form) {
  const inputs = Array.from(form.querySelectorAll("input[type=file]")).filter((input) => input.files.length);
  let total = 0;
  for (const input of inputs) {
    const selection = new DataTransfer();
    for (const file of await Promise.all(Array.from(input.files, shrunk))) {
      if (file.size > Number(document.body.dataset.maxPhoto)) {
        return `${file.name} is ${formatSize(file.size)}, more than the ${formatSize(Number(document.body.dataset.maxPhoto))} a photo may be.`;
      }
      total += file.size;
      selection.items.add(file);
    }
    input.files = selection.files;
  }
  const most = Number(document.body.dataset.maxPhotos);
  if (total > most) return `These photos come to ${formatSize(total)}, more than the ${formatSize(most)} one upload may carry: send fewer at a time.`;
  return null;
}

function formAlert(form, message) {
  form.querySelector("[data-form-alert]")?.remove();
  const alert = document.createElement("p");
  alert.className = "alert alert--error";
  alert.setAttribute("role", "alert");
  alert.dataset.formAlert = "";
  alert.textContent = message;
  form.prepend(alert);
  alert.scrollIntoView({ block: "nearest" });
}

// The enrol and add-photo forms are sent in the background too, so nothing the operator typed or
// chose is lost when they are refused: a form with errors comes back with the chosen photos still
// chosen (a browser cannot fill a file input from a page), a refusal for size is shown on the
// form. Accepted, the browser goes to the page the server sent it to.
function enableUploadForm(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showBusy(form, "Preparing the photos…");
    const problem = await preparePhotos(form);
    if (problem) {
      hideBusy(form);
      formAlert(form, problem);
      return;
    }
    showBusy(form, form.dataset.busy);
    const request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    request.addEventListener("load", () => {
      const page = new DOMParser().parseFromString(request.responseText, "text/html");
      const again = request.status === 200 && new URL(request.responseURL).pathname === window.location.pathname
        ? page.querySelector(`form[enctype="multipart/form-data"][data-busy="${form.dataset.busy}"]`)
        : null;
      if (again) {
        form.querySelectorAll("input[type=file]").forEach((input) => {
          const fresh = again.querySelector(`input[type=file][name="${input.name}"]`);
          if (!fresh) return;
          ["aria-invalid", "aria-describedby"].forEach((name) =>
            fresh.hasAttribute(name) ? input.setAttribute(name, fresh.getAttribute(name)) : input.removeAttribute(name),
          );
          fresh.replaceWith(input);
        });
        form.replaceWith(again);
        activateForm(again);
        enableUploadForm(again);
        again.scrollIntoView({ block: "nearest" });
      } else if (request.status >= 400) {
        hideBusy(form);
        const reason = page.querySelector("main [role=alert]") || page.querySelector("main h1");
        formAlert(form, reason ? reason.textContent.trim() : `The server refused the photos (${request.status}).`);
      } else {
        // Stored: the page the server led to, as it came (its messages are shown once, in it).
        document.title = page.title;
        document.body.replaceWith(page.body);
        window.history.pushState(null, "", request.responseURL);
        init();
        window.scrollTo(0, 0);
        // A page that refreshes itself (a background job's) goes on doing so.
        const refresh = page.querySelector('meta[http-equiv="refresh"]');
        if (refresh) window.setTimeout(() => window.location.reload(), 1000 * parseFloat(refresh.content));
      }
    });
    request.addEventListener("error", () => {
      hideBusy(form);
      formAlert(form, "The photos could not be sent: check the connection and try again.");
    });
    request.send(new FormData(form));
  });
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
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (event.submitter) action = event.submitter.hasAttribute("formaction") ? event.submitter.formAction : form.action;
    const problem = await preparePhotos(form);
    if (problem) {
      refused(problem);
      return;
    }
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

// The behaviour of a form, again for one that replaced another.
function activateForm(root) {
  root.querySelectorAll("input[type=file][data-preview]").forEach((input) => {
    input.addEventListener("change", () => showPreviews(input));
    if (input.files.length) showPreviews(input);
  });
  root.querySelectorAll("[data-drop-zone]").forEach(enableDropZone);
  root.querySelectorAll("form[data-confirm]").forEach((form) =>
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    }),
  );
}

function init() {
  activateForm(document);
  document.querySelectorAll("form[data-async-target]").forEach(enableAsyncForm);
  // Forms with photos that are not matched in place: enrolment and adding photos post to their own
  // page, in the background; checking one (1:1) posts to another, as a plain form once its photo fits.
  document.querySelectorAll("form[data-busy]:not([data-async-target])").forEach((form) => {
    if (!form.querySelector("input[type=file]")) form.addEventListener("submit", () => showBusy(form, form.dataset.busy));
    else if (!form.hasAttribute("action")) enableUploadForm(form);
    else {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const problem = await preparePhotos(form);
        if (problem) formAlert(form, problem);
        else {
          showBusy(form, form.dataset.busy);
          HTMLFormElement.prototype.submit.call(form);
        }
      });
    }
  });
  activate(document);
}

init();
// A page restored from the back/forward cache must not keep its buttons disabled.
window.addEventListener("pageshow", () => document.querySelectorAll("form[data-busy]").forEach(hideBusy));
