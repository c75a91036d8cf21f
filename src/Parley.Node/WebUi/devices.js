// The account's devices (docs/linking.md): the list, linking a new device (its code and QR code, the verification
// code to compare, confirm or decline), and the first-run link of a node without an account. Everything from the
// network goes on the page as textContent.
const $ = (id) => document.getElementById(id);
const POLL_MS = 500;

let api;
let qrSvg;
let offerTimer = null;

export function setUpDevices(apiCall, qr) {
  api = apiCall;
  qrSvg = qr;
  $("devices").addEventListener("click", showDevices);
  $("devices-close").addEventListener("click", closeDevices);
  $("link-device").addEventListener("click", linkDevice);
  $("link-confirm").addEventListener("click", () => decide(true));
  $("link-decline").addEventListener("click", () => decide(false));
  $("join-form").addEventListener("submit", join);
}

async function showDevices() {
  await renderDevices();
  $("offer").hidden = true;
  $("devices-dialog").showModal();
}

function closeDevices() {
  clearTimeout(offerTimer);
  $("devices-dialog").close();
}

async function renderDevices() {
  const list = $("device-list");
  try {
    const devices = await api("GET", "/api/devices");
    list.replaceChildren(...devices.map((device) => {
      const item = document.createElement("li");
      item.textContent = `${device.name ?? "first device"}${device.thisDevice ? " (this device)" : ""}`;
      const id = document.createElement("div");
      id.className = "mono device-id";
      id.textContent = device.id;
      item.append(id);
      if (!device.thisDevice) {
        const remove = Object.assign(document.createElement("button"), { type: "button", className: "small remove-device", textContent: "Remove" });
        remove.addEventListener("click", () => removeDevice(device));
        item.append(remove);
      }
      return item;
    }));
  } catch (error) {
    list.replaceChildren(Object.assign(document.createElement("li"), { className: "error", textContent: error.message }));
  }
}

async function removeDevice(device) {
  const name = device.name ?? "this device";
  if (!confirm(`Remove "${name}" from your account? It is barred for good; link it again only with a fresh data folder. If it was stolen, it still holds your account key.`)) return;
  try {
    await api("DELETE", `/api/devices/${encodeURIComponent(device.id)}`);
    await renderDevices();
  } catch (error) {
    alert(error.message);
  }
}

async function linkDevice() {
  try {
    const offer = await api("POST", "/api/devices/link");
    $("offer-qr").replaceChildren(qrSvg(offer.qr));
    $("offer-code").textContent = offer.code;
    $("offer").hidden = false;
    renderOffer(offer);
  } catch (error) {
    $("offer-state").textContent = error.message;
  }
}

function renderOffer(offer) {
  const confirming = offer.state === "confirming";
  $("offer-verify").hidden = !confirming;
  $("offer-qr").hidden = offer.state !== "waiting";
  if (confirming) {
    $("offer-device").textContent = offer.deviceName ?? "";
    $("offer-verification").textContent = offer.verificationCode ?? "";
  }
  $("offer-state").textContent = {
    waiting: `Scan the code with the new device, or enter it there (parley device add). It works once, until ${new Date(offer.expiresAt).toLocaleTimeString()}.`,
    confirming: "Does the new device show the same verification code?",
    transferring: "Sending your account to the new device…",
    linked: `${offer.deviceName} is now a device of your account.`,
    failed: `The link did not happen: ${offer.error}`,
  }[offer.state] ?? offer.state;
  clearTimeout(offerTimer);
  if (offer.state === "linked") {
    renderDevices();
  } else if (offer.state !== "failed") {
    offerTimer = setTimeout(pollOffer, POLL_MS);
  }
}

async function pollOffer() {
  try {
    renderOffer(await api("GET", "/api/devices/link"));
  } catch (error) {
    $("offer-state").textContent = error.message;
  }
}

async function decide(accept) {
  try {
    renderOffer(await api("POST", "/api/devices/link/confirm", { accept }));
  } catch (error) {
    $("offer-state").textContent = error.message;
  }
}

// First run: a node without an account links to an existing device.
export function showFirstRun() {
  $("first-run").showModal();
}

async function join(event) {
  event.preventDefault();
  const note = $("join-state");
  try {
    let progress = await api("POST", "/api/devices/add", { code: $("join-code").value.trim(), name: $("join-name").value.trim() || null });
    while (progress.state === "connecting" || progress.state === "confirming") {
      note.textContent = progress.verificationCode
        ? `Verification code: ${progress.verificationCode}. Check that the existing device shows the same code, and confirm there.`
        : "Reaching the existing device…";
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      progress = await api("GET", "/api/devices/add");
    }
    if (progress.state === "linked") {
      note.textContent = `Linked: this device is now ${progress.handle}.`;
      setTimeout(() => location.reload(), 1000);
    } else {
      note.textContent = progress.error;
    }
  } catch (error) {
    note.textContent = error.message;
  }
}
