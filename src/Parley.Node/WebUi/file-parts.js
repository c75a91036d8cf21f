// Files in a conversation (docs/files.md): the part of a bubble that shows a file, uploads with their progress, and
// downloads. An image shows as its thumbnail, which the sender's node made (a JPEG or WebP the receiving node checked
// and serves as such); nothing else from a contact is ever shown or opened: a file is saved only when the user clicks.

// "1.4 MiB", as the node writes sizes.
export function sizeText(bytes) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1).replace(/\.0$/, "")} ${units[unit]}`;
}

const percent = (part, whole) => `${Math.min(100, Math.floor((100 * part) / Math.max(1, whole)))}%`;

// Where a file stands, in words: what moves, what it waits for, what went wrong.
export function fileStateText(file) {
  if (file.outgoing) {
    if (file.state === "delivered") return "delivered ✓";
    if (file.active) return file.inRoom ? `sending: ${sizeText(file.bytesSent)} sent` : `sending ${percent(file.bytesSent, file.size)}`;
    return file.problem ?? (file.inRoom ? "offered to the room" : "sent");
  }
  switch (file.state) {
    case "complete": return "received";
    case "toolarge":
    case "nospace": return `not fetched: ${file.problem ?? file.state}`;
    default: return file.active ? `downloading ${percent(file.bytesHeld, file.size)}` : file.problem ?? `waiting: ${percent(file.bytesHeld, file.size)} here`;
  }
}

// Whether this device holds the whole file (ours, or one received and saved), so it can be downloaded.
export const isHeld = (file) => file.outgoing || file.state === "complete";

// The file part of a bubble: the thumbnail of an image (clicked, it downloads the file once it is here), the name and
// size as a download link, a progress bar while it moves, and its state.
export function fileElement(file, actions) {
  const box = document.createElement("div");
  box.className = "file";
  box.dataset.file = file.id;
  const held = isHeld(file);
  if (file.thumbnailType) {
    const image = document.createElement("img");
    image.className = "thumbnail";
    image.alt = file.name;
    image.dataset.thumbnail = file.id;
    image.title = held ? `Save ${file.name}` : `${file.name}: it can be saved once it is here`;
    if (held) image.addEventListener("click", () => actions.download(file));
    actions.showThumbnail(image, file.id);
    box.append(image);
  }
  box.append(nameLine(file.name, file.size, held ? () => actions.download(file) : null));
  if (!held && file.bytesHeld < file.size) {
    const progress = document.createElement("progress");
    progress.max = file.size;
    progress.value = file.bytesHeld;
    box.append(progress);
  }
  const status = document.createElement("div");
  status.className = "file-state";
  status.textContent = fileStateText(file);
  box.append(status);
  if (!file.outgoing && (file.state === "toolarge" || file.state === "nospace")) {
    const again = document.createElement("button");
    again.type = "button";
    again.className = "small";
    again.textContent = "Fetch again";
    again.addEventListener("click", () => actions.fetchAgain(file));
    box.append(again);
  }
  return box;
}

// A file's name and size; the name is a button that saves the file when it can be saved.
function nameLine(fileName, bytes, onSave) {
  const line = document.createElement("div");
  line.className = "file-line";
  const name = document.createElement(onSave ? "button" : "span");
  name.className = "file-name";
  name.textContent = fileName;
  if (onSave) {
    name.type = "button";
    name.title = `Save ${fileName} (${sizeText(bytes)})`;
    name.addEventListener("click", onSave);
  }
  const size = document.createElement("span");
  size.className = "file-size";
  size.textContent = sizeText(bytes);
  line.append(name, size);
  return line;
}

// A file being uploaded to the node, shown until the node has taken it (then the message and the file replace it).
export function uploadElement(upload, onDismiss) {
  const item = document.createElement("li");
  item.className = "outgoing upload";
  item.dataset.upload = upload.id;
  const box = document.createElement("div");
  box.className = "file";
  box.append(nameLine(upload.name, upload.size, null));
  const status = document.createElement("div");
  status.className = "file-state";
  if (upload.error) {
    item.classList.add("failed");
    status.textContent = `failed: ${upload.error}`;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "small";
    dismiss.textContent = "Dismiss";
    dismiss.addEventListener("click", onDismiss);
    box.append(status, dismiss);
  } else {
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = upload.progress;
    status.textContent = upload.progress < 1 ? `uploading ${percent(upload.progress, 1)}` : "encrypting…";
    box.append(progress, status);
  }
  item.append(box);
  return item;
}

// Posts a file's bytes to the node, reporting the share sent; resolves with the node's answer (a file).
export function postFile(url, token, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("Authorization", `Bearer ${token}`);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status === 200) resolve(request.response);
      else reject(Object.assign(new Error(request.response?.error ?? `${request.status} ${request.statusText}`), { status: request.status }));
    });
    request.addEventListener("error", () => reject(new Error("the node could not be reached")));
    request.send(file);
  });
}

// Thumbnails are fetched with the token (an <img> cannot present it) and shown from blob: addresses made here.
const thumbnails = new Map(); // file id -> Promise of an object URL, or null when there is none

export function loadThumbnail(image, id, token) {
  if (!thumbnails.has(id)) {
    thumbnails.set(id, fetch(`/api/files/${id}/thumbnail`, { headers: { Authorization: `Bearer ${token}` } })
      .then(async (response) => {
        const type = response.headers.get("Content-Type") ?? "";
        if (!response.ok || !(type.startsWith("image/jpeg") || type.startsWith("image/webp"))) return null;
        return URL.createObjectURL(await response.blob());
      })
      .catch(() => null));
  }
  thumbnails.get(id).then((url) => {
    if (url) image.src = url;
    else image.remove();
  });
}

// Saves a file the node holds: the node gives a one-time address (a link cannot carry the token), and the browser
// downloads from it straight to disk, as an attachment under the file's clean name.
export async function downloadFile(file, api) {
  const { url } = await api("POST", `/api/files/${file.id}/download`);
  const link = document.createElement("a");
  link.href = url;
  link.download = file.name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
}
