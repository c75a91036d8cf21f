// Parley's web UI: a thin client of the node's local API (docs/api.md). No build step, no dependencies.
// Everything from the network is put on the page with textContent, never as HTML.
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  me: null, // our handle
  status: null, // the last status from the node
  contacts: new Map(), // handle -> contact (accepted, requested, blocked)
  requests: new Map(), // handle -> request (contact, safetyNumber, messages)
  unread: new Map(), // handle -> number of unread messages
  current: null, // handle of the open conversation
  messages: new Map(), // id -> message, for the open conversation
  socket: null,
  sending: 0, // counter for the ids of messages not yet accepted by the node
};

// Delivery states only move forward; an event may overtake the answer that created the message.
const rank = { sending: 0, queued: 1, stored: 2, delivered: 3, read: 4, received: 4 };

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
    showLocked("The node refused the token (it changes each time the node starts).");
    throw new Error("the node refused the token");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error(data?.error ?? `${response.status} ${response.statusText}`);
  return data;
}

const path = (handle) => encodeURIComponent(handle);
const groups = (digits) => digits.match(/.{5}/g).join(" ");
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function showLocked(reason) {
  state.token = null;
  state.socket?.close();
  $("app").hidden = true;
  $("locked").hidden = false;
  $("locked-reason").textContent = reason ?? "";
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
    case "sending": return "sending…";
    case "queued": return "queued";
    case "stored": return `in their mailbox (${plural(message.storedAt, "node")})`;
    case "delivered": return "delivered ✓";
    case "read": return "read ✓✓";
    default: return "";
  }
}

function renderStatus(status) {
  state.status = status;
  if (status.handle) {
    state.me = status.handle;
    $("me-handle").textContent = status.handle;
  }
  $("status").textContent = `${plural(status.peers, "peer")} · outbox ${status.outbox}`;
  $("status").classList.toggle("online", status.peers > 0);
  $("node-peers").textContent = status.peers === 0 ? "none yet: waiting for others to join" : `${status.peers} in the routing table`;
  $("node-mailbox").textContent = status.mailboxNodesAsked === 0
    ? "not fetched yet"
    : `${status.mailboxNodesAnswered} of ${status.mailboxNodesAsked} mailbox nodes answered the last fetch`;
  $("node-outbox").textContent = status.outbox === 0 ? "empty" : `${plural(status.outbox, "envelope")} waiting to be delivered`;
  $("node-device").textContent = status.device;
  $("node-addresses").replaceChildren(...status.addresses.map((address) => {
    const item = document.createElement("li");
    item.textContent = address;
    return item;
  }));
}

function handleElement(handle) {
  const name = document.createElement("span");
  name.className = "name";
  const [shown, tag] = handle.split("#");
  name.textContent = shown;
  const tagElement = document.createElement("span");
  tagElement.className = "tag";
  tagElement.textContent = `#${tag}`;
  name.append(tagElement);
  return name;
}

function listItem(handle, subtitle, onClick, badge) {
  const item = document.createElement("li");
  item.dataset.handle = handle;
  const detail = document.createElement("span");
  detail.className = "detail";
  detail.textContent = subtitle;
  const text = document.createElement("span");
  text.className = "item-text";
  text.append(handleElement(handle), detail);
  item.append(text);
  if (badge) {
    const count = document.createElement("span");
    count.className = "badge";
    count.textContent = badge;
    count.title = `${plural(badge, "unread message")}`;
    item.append(count);
  }
  if (onClick) {
    item.tabIndex = 0;
    item.setAttribute("role", "button");
    item.addEventListener("click", onClick);
    item.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        onClick();
      }
    });
  } else {
    item.classList.add("inert");
  }
  if (handle === state.current) item.classList.add("active");
  return item;
}

const contactDetail = (contact) => ({
  requested: "waiting for them to accept",
  accepted: "contact",
  blocked: "blocked",
}[contact.state] ?? contact.state);

function renderContacts() {
  const chats = [...state.contacts.values()].sort((a, b) => a.handle.localeCompare(b.handle));
  $("contacts").replaceChildren(...chats.map((c) => listItem(c.handle, contactDetail(c), () => open(c.handle), state.unread.get(c.handle))));
  if (chats.length === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No chats yet. Find someone above by their name.";
    $("contacts").append(empty);
  }
  $("requests").replaceChildren(...[...state.requests.values()].map((r) =>
    listItem(r.contact.handle, "asks to talk with you", () => open(r.contact.handle), r.messages.length)));
  $("requests-title").hidden = state.requests.size === 0;
  const unread = [...state.unread.values()].reduce((a, b) => a + b, 0);
  document.title = unread > 0 ? `(${unread}) Parley` : "Parley";
}

function formatTime(iso) {
  const date = new Date(iso);
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return date.toDateString() === new Date().toDateString() ? time : `${date.toLocaleDateString()} ${time}`;
}

function renderMessage(message) {
  const item = document.createElement("li");
  item.dataset.id = message.id;
  item.className = message.direction === "outgoing" ? "outgoing" : "incoming";
  item.dataset.state = message.state;
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = message.text;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = message.direction === "outgoing" ? `${formatTime(message.sentAt)} · ${stateLabel(message)}` : formatTime(message.sentAt);
  meta.title = message.direction === "outgoing" ? "" : "the time on their device";
  item.append(text, meta);
  return item;
}

function renderMessages() {
  // Causal order, as every member shows it: Lamport clock, then sender, then id.
  const ordered = [...state.messages.values()].sort((a, b) =>
    a.lamport - b.lamport || a.from.localeCompare(b.from) || a.id.localeCompare(b.id));
  $("messages").replaceChildren(...ordered.map(renderMessage));
  if (ordered.length === 0 && state.current && !state.contacts.has(state.current) && !state.requests.has(state.current)) {
    const hint = document.createElement("li");
    hint.className = "hint";
    hint.textContent = "Your first message goes to them as a contact request. They see it when they accept, or when they answer.";
    $("messages").append(hint);
  }
  $("messages").lastElementChild?.scrollIntoView({ block: "end" });
}

function keep(message) {
  const known = state.messages.get(message.id);
  if (known && (rank[known.state] ?? 0) > (rank[message.state] ?? 0)) return;
  state.messages.set(message.id, message);
}

async function refreshLists() {
  const [contacts, requests, unread] = await Promise.all([api("GET", "/api/contacts"), api("GET", "/api/requests"), api("GET", "/api/unread")]);
  state.contacts = new Map(contacts.map((c) => [c.handle, c]));
  state.requests = new Map(requests.map((r) => [r.contact.handle, r]));
  state.unread = new Map();
  for (const message of unread) {
    if (message.contact === state.current || state.requests.has(message.contact)) continue;
    state.unread.set(message.contact, (state.unread.get(message.contact) ?? 0) + 1);
  }
  renderContacts();
  if (state.current) renderHeader();
}

function renderHeader() {
  const handle = state.current;
  const contact = state.contacts.get(handle);
  const request = state.requests.get(handle);
  $("peer").replaceChildren(handleElement(handle));
  $("peer-state").textContent = request ? "asks to talk with you"
    : !contact ? "new chat"
    : contact.state === "accepted" ? "end-to-end encrypted"
    : contactDetail(contact);
  $("safety").hidden = !contact && !request;
  $("request-banner").hidden = !request;
  if (request) $("request-text").textContent = `Safety number ${groups(request.safetyNumber)}. Accept, or simply reply, to chat; until then they cannot tell whether you have read it.`;
  const blocked = contact?.state === "blocked";
  $("compose").hidden = blocked;
  $("blocked-note").hidden = !blocked;
}

async function open(handle) {
  state.current = handle;
  state.messages = new Map();
  document.body.classList.add("in-conversation");
  renderHeader();
  state.unread.delete(handle);
  renderContacts();
  renderMessages();
  const request = state.requests.get(handle);
  try {
    if (state.contacts.has(handle) || request) {
      const messages = await api("GET", `/api/messages/${path(handle)}?limit=500`);
      if (state.current !== handle) return;
      for (const message of messages) keep(message);
      renderMessages();
      // Read receipts go to contacts only: reading a request tells its sender nothing.
      if (!request && messages.some((m) => m.unread)) await api("POST", `/api/messages/${path(handle)}/read`);
    }
  } catch (error) {
    toast(error.message);
  }
  if (!$("compose").hidden) $("compose-text").focus();
}

function closeConversation() {
  state.current = null;
  state.messages = new Map();
  document.body.classList.remove("in-conversation");
  $("peer").textContent = "Pick a chat or find someone";
  $("peer-state").textContent = "";
  for (const id of ["safety", "request-banner", "compose", "blocked-note"]) $(id).hidden = true;
  renderMessages();
  renderContacts();
}

async function send(event) {
  event.preventDefault();
  const text = $("compose-text").value.trim();
  const to = state.current;
  if (!text || !to) return;
  $("compose-text").value = "";
  resizeCompose();
  // Shown at once; replaced by the node's answer.
  const placeholder = { id: `sending-${++state.sending}`, direction: "outgoing", state: "sending", text, from: state.me ?? "", lamport: Number.MAX_SAFE_INTEGER, sentAt: new Date().toISOString() };
  state.messages.set(placeholder.id, placeholder);
  renderMessages();
  try {
    const message = await api("POST", "/api/messages", { to, text });
    state.messages.delete(placeholder.id);
    if (state.current === to) {
      keep(message);
      renderMessages();
    }
    if (!state.contacts.has(to) || state.requests.has(to)) await refreshLists(); // a new contact, or a request answered (accepted)
  } catch (error) {
    state.messages.delete(placeholder.id);
    renderMessages();
    if (!$("compose-text").value) $("compose-text").value = text;
    toast(error.message);
  }
}

async function find(event) {
  event.preventDefault();
  const query = $("find-input").value.trim();
  const results = $("find-results");
  results.replaceChildren();
  if (!query) return;
  const note = document.createElement("li");
  note.className = "empty";
  note.textContent = "searching the network…";
  results.append(note);
  try {
    const matches = await api("GET", `/api/find?q=${encodeURIComponent(query)}`);
    results.replaceChildren(...matches.map((m) => {
      if (m.handle === state.me) return listItem(m.handle, "that is you", null);
      const known = state.contacts.get(m.handle) ?? state.requests.get(m.handle)?.contact;
      return listItem(m.handle, known ? `in your chats (${contactDetail(known)})` : "start a chat", () => {
        results.replaceChildren();
        $("find-input").value = "";
        open(m.handle);
      });
    }));
    if (matches.length === 0) {
      note.textContent = `nobody called ${query} was found`;
      results.replaceChildren(note);
    } else if (matches.length > 1) {
      const hint = document.createElement("li");
      hint.className = "empty";
      hint.textContent = "Several people use this name: ask yours for their tag (after the #).";
      results.append(hint);
    }
  } catch (error) {
    note.textContent = error.message;
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
        keep(message);
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
  if (!state.token) return;
  const socket = new WebSocket(`ws://${location.host}/api/events?access_token=${encodeURIComponent(state.token)}`);
  state.socket = socket;
  socket.addEventListener("open", () => {
    $("status").classList.remove("offline");
    // Catch up on what happened while we were not connected.
    refreshLists().catch(() => {});
    if (state.current) open(state.current);
  });
  socket.addEventListener("message", (message) => onEvent(JSON.parse(message.data)));
  socket.addEventListener("close", () => {
    if (state.socket !== socket || !state.token) return;
    $("status").textContent = "node not reachable; retrying…";
    $("status").classList.add("offline");
    $("status").classList.remove("online");
    // A WebSocket cannot tell why it was refused: ask once over HTTP (a new token shows the locked page).
    setTimeout(() => api("GET", "/api/status").then(connectEvents, () => setTimeout(connectEvents, 3000)), 2000);
  });
}

async function start() {
  state.token = takeToken();
  if (!state.token) {
    showLocked();
    return;
  }
  try {
    renderStatus(await api("GET", "/api/status"));
  } catch (error) {
    if (state.token) showLocked(`The node did not answer: ${error.message}`);
    return;
  }
  $("locked").hidden = true;
  $("app").hidden = false;
  if (!state.me) {
    $("me-handle").textContent = "no identity yet";
    $("contacts").replaceChildren();
    toast("This node has no identity yet. Create one with: parley init --name <name>");
    return;
  }
  await refreshLists();
  connectEvents();
}

function resizeCompose() {
  const box = $("compose-text");
  box.rows = Math.min(6, Math.max(1, box.value.split("\n").length));
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("parley-token", $("token-input").value.trim());
  start();
});
$("compose").addEventListener("submit", send);
$("compose-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
});
$("compose-text").addEventListener("input", resizeCompose);
$("find-form").addEventListener("submit", find);
$("back").addEventListener("click", closeConversation);
$("accept").addEventListener("click", async () => {
  try {
    await api("POST", `/api/contacts/${path(state.current)}/accept`);
    await refreshLists();
    await open(state.current);
  } catch (error) {
    toast(error.message);
  }
});
$("block").addEventListener("click", async () => {
  if (!confirm(`Block ${state.current}? You will not see anything more from them.`)) return;
  try {
    await api("POST", `/api/contacts/${path(state.current)}/block`);
    await refreshLists();
    closeConversation();
  } catch (error) {
    toast(error.message);
  }
});
$("safety").addEventListener("click", async () => {
  try {
    const result = await api("GET", `/api/safety-number/${path(state.current)}`);
    $("safety-peer").textContent = result.contact;
    $("safety-number").textContent = groups(result.safetyNumber);
    $("safety-dialog").showModal();
  } catch (error) {
    toast(error.message);
  }
});
$("safety-close").addEventListener("click", () => $("safety-dialog").close());

start();
