// The live page (live/views.py): the camera's picture, a downscaled JPEG of it sent to the server
// one at a time, every face's box and name drawn over the video, and who was seen and when.
//
// Names are kept steady here, in the browser, by following each face's box from frame to frame
// (the box of the last frame it overlaps most): a face keeps the name it was given most often in
// its last few frames, so one uncertain frame does not relabel it. The server keeps nothing per
// process (any worker may serve any frame); what it must agree on across workers, door mode's
// "already announced", it keeps in the database.
"use strict";

const TRACK_MEMORY = 5; // frames of names a face's label is voted from
const TRACK_OVERLAP = 0.3; // intersection over union for a box to be the same face as before
const TRACK_MISSES = 2; // frames a face may go unseen before its box is dropped

function overlap(a, b) {
  const [ax, ay, aw, ah] = a;
  const [bx, by, bw, bh] = b;
  const w = Math.max(0, Math.min(ax + aw, bx + bw) - Math.max(ax, bx));
  const h = Math.max(0, Math.min(ay + ah, by + bh) - Math.max(ay, by));
  const shared = w * h;
  return shared / (aw * ah + bw * bh - shared || 1);
}

// The label a face has shown most often in its last frames (the latest on a tie).
function steadyLabel(history) {
  const counts = new Map();
  let best = history[history.length - 1];
  for (const label of history) counts.set(label.key, (counts.get(label.key) || 0) + 1);
  for (const label of history) if (counts.get(label.key) > counts.get(best.key)) best = label;
  return best;
}

function cameraRefusal(error) {
  switch (error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "The camera was refused. Allow this site to use the camera (in the address bar or the browser's settings), then start again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found on this device.";
    case "NotReadableError":
      return "The camera is in use by another application, or the system refused it.";
    default:
      return `The camera could not be started (${error.name}).`;
  }
}

function timeOfDay(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function startLivePage(root) {
  const video = root.querySelector("[data-live-video]");
  const overlay = root.querySelector("[data-live-overlay]");
  const errorBox = root.querySelector("[data-live-error]");
  const status = root.querySelector("[data-live-status]");
  const seenList = root.querySelector("[data-live-seen]");
  const nobody = root.querySelector("[data-live-none]");
  const startButton = root.querySelector("[data-live-start]");
  const stopButton = root.querySelector("[data-live-stop]");
  const flipButton = root.querySelector("[data-live-flip]");
  const door = root.querySelector("[data-live-door]");
  const collection = root.querySelector("select[name=collection]");
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const frameWidth = Number(root.dataset.frameWidth);
  const interval = Number(root.dataset.frameInterval);
  const grab = document.createElement("canvas");
  let stream = null;
  let facing = "user"; // a phone's front camera first; "environment" is its back one
  let timer = null;
  let busy = false;
  let tracks = [];
  let frameSize = [1, 1];
  const seen = new Map(); // label key -> its list item

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  async function start() {
    showError("");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError("This browser gives the page no camera: the page needs HTTPS (or localhost) and a browser that allows camera access.");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: facing }, width: { ideal: 1280 } }, audio: false });
    } catch (error) {
      showError(cameraRefusal(error));
      status.textContent = "No camera.";
      return;
    }
    video.srcObject = stream;
    await video.play();
    startButton.hidden = true;
    stopButton.hidden = false;
    const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((device) => device.kind === "videoinput");
    flipButton.hidden = cameras.length < 2;
    status.textContent = "Watching.";
    timer = setInterval(sendFrame, interval);
  }

  function stop() {
    clearInterval(timer);
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    tracks = [];
    draw();
    startButton.hidden = false;
    stopButton.hidden = true;
    flipButton.hidden = true;
    status.textContent = "Stopped.";
  }

  async function sendFrame() {
    if (busy || !video.videoWidth) return;
    busy = true;
    try {
      const scale = Math.min(1, frameWidth / video.videoWidth);
      grab.width = Math.round(video.videoWidth * scale);
      grab.height = Math.round(video.videoHeight * scale);
      grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
      const jpeg = await new Promise((done) => grab.toBlob(done, "image/jpeg", 0.85));
      const body = new FormData();
      body.append("frame", jpeg, "frame.jpg");
      if (door.checked) body.append("door", "on");
      if (collection.value) body.append("collection", collection.value);
      const response = await fetch(root.dataset.frameUrl, {
        method: "POST", body, headers: { "X-CSRFToken": csrf }, credentials: "same-origin", redirect: "manual",
      });
      if (response.type === "opaqueredirect") {
        stop();
        showError("Your session has ended: log in again.");
        return;
      }
      if (response.status === 429 || response.status === 503) {
        status.textContent = `The server asks to wait (${response.status}); trying again shortly.`;
        return;
      }
      if (!(response.headers.get("Content-Type") || "").includes("application/json")) {
        stop();
        showError(`The server refused the frame (${response.status}): reload the page.`);
        return;
      }
      const answer = await response.json();
      if (!response.ok) {
        showError(answer.detail || `The frame was refused (${response.status}).`);
        return;
      }
      showError("");
      frameSize = [grab.width, grab.height];
      follow(answer.faces);
      draw();
      note(answer.faces);
      status.textContent = `Watching: ${answer.faces.length} face(s), ${Math.round(answer.processing_time_ms)} ms.`;
    } catch (error) {
      status.textContent = `No answer from the server (${error.message}); trying again.`;
    } finally {
      busy = false;
    }
  }

  // Each face of the answer continues the track whose last box it overlaps most, or starts one.
  function follow(faces) {
    const free = new Set(tracks);
    const next = [];
    for (const face of faces) {
      const label = face.record_id ? { key: face.record_id, name: face.name } : { key: "", name: "Unknown" };
      let best = null;
      let bestOverlap = TRACK_OVERLAP;
      for (const track of free) {
        const shared = overlap(track.box, face.box);
        if (shared >= bestOverlap) [best, bestOverlap] = [track, shared];
      }
      const track = best || { history: [] };
      free.delete(best);
      track.box = face.box;
      track.misses = 0;
      track.history = [...track.history, label].slice(-TRACK_MEMORY);
      next.push(track);
    }
    for (const track of free) if (++track.misses <= TRACK_MISSES) next.push(track);
    tracks = next;
  }

  function draw() {
    overlay.width = video.clientWidth;
    overlay.height = video.clientHeight;
    const context = overlay.getContext("2d");
    context.clearRect(0, 0, overlay.width, overlay.height);
    const scale = overlay.width / frameSize[0];
    context.lineWidth = 3;
    context.font = "600 16px system-ui, sans-serif";
    for (const track of tracks) {
      if (track.misses) continue;
      const label = steadyLabel(track.history);
      const [x, y, w, h] = track.box.map((value) => value * scale);
      context.strokeStyle = context.fillStyle = label.key ? "#22c55e" : "#f59e0b";
      context.strokeRect(x, y, w, h);
      const width = context.measureText(label.name).width + 8;
      context.fillRect(x, Math.max(0, y - 22), width, 22);
      context.fillStyle = "#111";
      context.fillText(label.name, x + 4, Math.max(16, y - 6));
    }
  }

  // Who was seen and when: the steady label of each face shown, first and last time.
  function note(faces) {
    const now = new Date();
    const announced = new Set(faces.filter((face) => face.announced).map((face) => face.record_id || ""));
    for (const track of tracks) {
      if (track.misses) continue;
      const label = steadyLabel(track.history);
      let item = seen.get(label.key);
      if (!item) {
        item = document.createElement("li");
        item.dataset.recordId = label.key;
        item.dataset.first = timeOfDay(now);
        seen.set(label.key, item);
        seenList.prepend(item);
      }
      if (announced.has(label.key)) item.dataset.announced = timeOfDay(now);
      item.textContent = `${label.name}: first seen ${item.dataset.first}, last seen ${timeOfDay(now)}`;
      if (item.dataset.announced) item.textContent += `, event sent ${item.dataset.announced}`;
    }
    nobody.hidden = seen.size > 0;
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  flipButton.addEventListener("click", () => {
    stop();
    facing = facing === "user" ? "environment" : "user";
    start();
  });
  window.addEventListener("resize", draw);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(startLivePage);
});
