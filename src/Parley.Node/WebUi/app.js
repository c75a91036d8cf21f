// Parley's web UI: a thin client of the node's local API (docs/api.md). No build step, no dependencies.
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  me: null,
  contacts: new Map(), // handle -> contact
  requests: new Map(), // handle -> request
  current: null, // handle of the open conversation
  messages: new Map(), // id -> message, for the open conversation
};

function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("parley-token", fromHash);
    // Keep the token out of the address bar, history and screenshots.
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("parley-token");
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${state.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) {
    sessionStorage.removeItem("parley-token");
    showLocked();
    throw new Error("the node refused the token");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error(data?.error ?? `${response.status} ${response.statusText}`);
  return data;
}

const path = (handle) => encodeURIComponent(handle);

function showLocked() {
  $("app").hidden = true;
  $("locked").hidden = false;
}

function toast(text) {
  const item = document.createElement("li");
  item.className = "error";
  item.textContent = text;
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
}

function stateLabel(message) {
  switch (message.state) {
    case "queued": return "queued";
    case "stored": return `stored at ${message.storedAt} of 20 mailbox nodes`;
    case "delivered": return "delivered ✓";
    case "read": return "read ✓✓";
    default: return "";
  }
}

function renderStatus(status) {
  if (status.handle) $("me-handle").textContent = status.handle;
  $("status").textContent =
    `${status.peers} peer${status.peers === 1 ? "" : "s"} · mailbox ${status.mailboxNodesAnswered}/${status.mailboxNodesAsked} · outbox ${status.outbox}`;
  $("status").title = status.addresses.join("\n");
}

function contactItem(handle, subtitle, onClick) {
  const item = document.createElement("li");
  item.dataset.handle = handle;
  const name = document.createElement("span");
  name.className = "name";
  const [shown, tag] = handle.split("#");
  name.textContent = shown;
  const tagElement = document.createElement("span");
  tagElement.className = "tag";
  tagElement.textContent = `#${tag}`;
  name.append(tagElement);
  const detail = document.createElement("span");
  detail.className = "detail";
  detail.textContent = subtitle;
  item.append(name, detail);
  item.addEventListener("click", onClick);
  if (handle === state.current) item.classList.add("active");
  return item;
}

function renderContacts() {
  const list = $("contacts");
  list.replaceChildren();
  for (const contact of state.contacts.values()) {
    list.append(contactItem(contact.handle, contact.state === "requested" ? "waiting for them to accept" : contact.state, () => open(contact.handle)));
  }
  if (state.contacts.size === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No contacts yet. Find someone above.";
    list.append(empty);
  }
  const requests = $("requests");
  requests.replaceChildren(...[...state.requests.values()].map((r) => contactItem(r.contact.handle, "asks to talk", () => open(r.contact.handle))));
  $("requests-title").hidden = state.requests.size === 0;
}

function renderMessage(message) {
  let item = document.querySelector(`#messages li[data-id="${message.id}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.id = message.id;
    const text = document.createElement("div");
    text.className = "text";
    const meta = document.createElement("div");
    meta.className = "meta";
    item.append(text, meta);
  }
  item.className = message.direction === "outgoing" ? "outgoing" : "incoming";
  item.dataset.state = message.state;
  item.dataset.lamport = message.lamport;
  item.querySelector(".text").textContent = message.text;
  const time = new Date(message.sentAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  item.querySelector(".meta").textContent = message.direction === "outgoing" ? `${time} · ${stateLabel(message)}` : time;
  return item;
}

function renderMessages() {
  // Causal order, as every member shows it: Lamport clock, then sender, then id.
  const ordered = [...state.messages.values()].sort((a, b) =>
    a.lamport - b.lamport || a.from.localeCompare(b.from) || a.id.localeCompare(b.id));
  $("messages").replaceChildren(...ordered.map(renderMessage));
  $("messages").lastElementChild?.scrollIntoView({ block: "end" });
}

async function refreshLists() {
  const [contacts, requests] = await Promise.all([api("GET", "/api/contacts"), api("GET", "/api/requests")]);
  state.contacts = new Map(contacts.map((c) => [c.handle, c]));
  state.requests = new Map(requests.map((r) => [r.contact.handle, r]));
  renderContacts();
}

async function open(handle) {
  state.current = handle;
  state.messages = new Map();
  document.body.classList.add("in-conversation");
  $("peer").textContent = handle;
  $("safety").hidden = false;
  $("compose").hidden = false;
  const request = state.requests.get(handle);
  $("request-banner").hidden = !request;
  if (request) $("request-text").textContent = `${handle} asks to talk with you. Safety number ${request.safetyNumber.match(/.{5}/g).join(" ")}`;
  renderContacts();
  try {
    for (const message of await api("GET", `/api/messages/${path(handle)}?limit=500`)) state.messages.set(message.id, message);
    renderMessages();
    if (!request) await api("POST", `/api/messages/${path(handle)}/read`);
  } catch (error) {
    toast(error.message);
  }
  $("compose-text").focus();
}

async function send(event) {
  event.preventDefault();
  const text = $("compose-text").value.trim();
  if (!text || !state.current) return;
  $("compose-text").value = "";
  try {
    const message = await api("POST", "/api/messages", { to: state.current, text });
    if (message.contact === state.current) {
      state.messages.set(message.id, message);
      renderMessages();
    }
    if (state.requests.has(state.current)) {
      // Answering a request accepts it.
      await refreshLists();
      $("request-banner").hidden = true;
    }
  } catch (error) {
    $("compose-text").value = text;
    toast(error.message);
  }
}

async function find(event) {
  event.preventDefault();
  const query = $("find-input").value.trim();
  const results = $("find-results");
  results.replaceChildren();
  if (!query) return;
  const searching = document.createElement("li");
  searching.className = "empty";
  searching.textContent = "searching the network…";
  results.append(searching);
  try {
    const matches = await api("GET", `/api/find?q=${encodeURIComponent(query)}`);
    results.replaceChildren(...matches.map((m) => contactItem(m.handle, "start a chat", () => {
      results.replaceChildren();
      $("find-input").value = "";
      open(m.handle);
    })));
    if (matches.length === 0) {
      searching.textContent = `nobody called ${query}`;
      results.replaceChildren(searching);
    }
  } catch (error) {
    searching.textContent = error.message;
  }
}

function onEvent(event) {
  switch (event.type) {
    case "status":
      renderStatus(event.status);
      break;
    case "message":
    case "state": {
      const message = event.message;
      if (message.contact === state.current) {
        state.messages.set(message.id, message);
        renderMessages();
        if (event.type === "message" && !state.requests.has(state.current) && document.visibilityState === "visible") {
          api("POST", `/api/messages/${path(state.current)}/read`).catch(() => {});
        }
      }
      if (event.type === "message") refreshLists().catch(() => {});
      break;
    }
    case "contact":
      refreshLists().catch(() => {});
      break;
  }
}

function connectEvents() {
  const socket = new WebSocket(`ws://${location.host}/api/events?access_token=${encodeURIComponent(state.token)}`);
  socket.addEventListener("message", (message) => onEvent(JSON.parse(message.data)));
  socket.addEventListener("close", () => {
    $("status").textContent = "reconnecting…";
    setTimeout(connectEvents, 2000);
  });
}

async function start() {
  state.token = takeToken();
  if (!state.token) {
    showLocked();
    return;
  }
  try {
    const status = await api("GET", "/api/status");
    renderStatus(status);
    state.me = status.handle;
  } catch (error) {
    return;
  }
  $("locked").hidden = true;
  $("app").hidden = false;
  await refreshLists();
  connectEvents();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("parley-token", $("token-input").value.trim());
  start();
});
$("compose").addEventListener("submit", send);
$("compose-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) send(event);
});
$("find-form").addEventListener("submit", find);
$("back").addEventListener("click", () => document.body.classList.remove("in-conversation"));
$("accept").addEventListener("click", async () => {
  try {
    await api("POST", `/api/contacts/${path(state.current)}/accept`);
    await refreshLists();
    open(state.current);
  } catch (error) {
    toast(error.message);
  }
});
$("block").addEventListener("click", async () => {
  if (!confirm(`Block ${state.current}? You will not see anything more from them.`)) return;
  try {
    await api("POST", `/api/contacts/${path(state.current)}/block`);
    state.current = null;
    state.messages = new Map();
    renderMessages();
    await refreshLists();
  } catch (error) {
    toast(error.message);
  }
});
$("safety").addEventListener("click", async () => {
  try {
    const result = await api("GET", `/api/safety-number/${path(state.current)}`);
    $("safety-peer").textContent = result.contact;
    $("safety-number").textContent = result.safetyNumber.match(/.{5}/g).join(" ");
    $("safety-dialog").showModal();
  } catch (error) {
    toast(error.message);
  }
});

start();
