// Parley's web UI: a thin client of the node's local API (docs/api.md). No build step, no dependencies.
// Everything from the network is put on the page with textContent, never as HTML.
import { canChange, dayKey, daySeparator, deliveryElement, formatFull, formatTime, presenceText, quoteElement, reactionPicker, reactionsElement } from "./message-parts.js";
import { downloadFile, fileElement, loadThumbnail, postFile, uploadElement } from "./file-parts.js";
import { setUpDevices, showFirstRun } from "./devices.js";

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
  rooms: new Map(), // room id -> room
  room: null, // id of the open room (when a room, not a contact, is open)
  roomUnread: new Map(), // room id -> number of unread messages
  gaps: [], // the open room's missing messages
  notices: new Map(), // handle -> session repair notices for that conversation, since the page loaded
  reply: null, // the message the next one replies to
  editing: null, // the message of ours the compose box edits
  presence: new Map(), // handle -> { online, lastSeen } of accepted contacts that share it
  typing: new Map(), // handle -> timer that hides their typing indicator
  privacy: { sharePresence: true, shareTyping: true },
  typingSent: null, // { to, at, stop }: our typing note to the open chat
  files: new Map(), // message id -> the file it carries (sent or received)
  uploads: new Map(), // local id -> a file being uploaded to the node: { id, to, room, name, size, progress, error }
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
  if (!response.ok) throw Object.assign(new Error(data?.error ?? `${response.status} ${response.statusText}`), { data });
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

function describeReachability(status) {
  const how = {
    public: "public: others can dial this node",
    private: "private: behind a NAT or firewall",
    unknown: "unknown: still finding out",
  }[status.reachability] ?? status.reachability;
  const relays = status.relays.length === 0 ? "" : ` · reachable through ${plural(status.relays.length, "relay")}`;
  const relaying = status.relaying ? " · relaying for others" : "";
  return `${how} · DHT ${status.dhtMode}${relays}${relaying} · ${status.directConnections} direct, ${status.relayedConnections} relayed connections`;
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
  $("node-reachability").textContent = describeReachability(status);
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
  grouppeer: "in a room with you",
}[contact.state] ?? contact.state);

function renderContacts() {
  const chats = [...state.contacts.values()].sort((a, b) => a.handle.localeCompare(b.handle));
  $("contacts").replaceChildren(...chats.map((c) => {
    const item = listItem(c.handle, state.typing.has(c.handle) ? "typing…" : contactDetail(c), () => open(c.handle), state.unread.get(c.handle));
    if (state.presence.get(c.handle)?.online) item.classList.add("online");
    return item;
  }));
  if (chats.length === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No chats yet. Find someone above by their name.";
    $("contacts").append(empty);
  }
  $("requests").replaceChildren(...[...state.requests.values()].map((r) =>
    listItem(r.contact.handle, "asks to talk with you", () => open(r.contact.handle), r.messages.length)));
  $("requests-title").hidden = state.requests.size === 0;
  renderRooms();
  const unread = [...state.unread.values(), ...state.roomUnread.values()].reduce((a, b) => a + b, 0);
  document.title = unread > 0 ? `(${unread}) Parley` : "Parley";
}

const roomDetail = (room) => ({
  invited: "invited: open to join",
  requested: "waiting for an admin to let you in",
  member: `${plural(room.members.length, "member")}${room.isAdmin ? " · admin" : ""}`,
  left: "you left",
  removed: "you were removed",
}[room.status] ?? room.status);

function roomItem(room) {
  const item = document.createElement("li");
  item.dataset.room = room.id;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = room.name;
  const detail = document.createElement("span");
  detail.className = "detail";
  detail.textContent = roomDetail(room);
  const text = document.createElement("span");
  text.className = "item-text";
  text.append(name, detail);
  item.append(text);
  const unread = state.roomUnread.get(room.id);
  if (unread) {
    const count = document.createElement("span");
    count.className = "badge";
    count.textContent = unread;
    item.append(count);
  }
  item.tabIndex = 0;
  item.setAttribute("role", "button");
  item.addEventListener("click", () => openRoom(room.id));
  item.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      openRoom(room.id);
    }
  });
  if (room.id === state.room) item.classList.add("active");
  return item;
}

function renderRooms() {
  const rooms = [...state.rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
  $("rooms").replaceChildren(...rooms.map(roomItem));
  if (rooms.length === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No rooms yet: create one, or join with a link.";
    $("rooms").append(empty);
  }
}

async function refreshRooms() {
  const rooms = await api("GET", "/api/groups");
  state.rooms = new Map(rooms.map((r) => [r.id, r]));
  renderContacts();
  if (state.room) renderRoomHeader();
}

function roomStateLabel(message) {
  if (message.recipients === 0) return "only you are in the room";
  if (message.delivered >= message.recipients) return `delivered to all ${message.recipients} ✓`;
  const parts = [];
  if (message.delivered > 0) parts.push(`delivered to ${message.delivered} of ${message.recipients}`);
  if (message.stored > 0) parts.push(`waiting in ${message.stored} mailbox${message.stored === 1 ? "" : "es"}`);
  return parts.length === 0 ? "queued" : parts.join(" · ");
}

function renderRoomMessage(message) {
  const item = document.createElement("li");
  item.dataset.id = message.id;
  item.className = message.outgoing ? "outgoing" : "incoming";
  if (!message.outgoing) {
    const from = document.createElement("div");
    from.className = "from";
    from.textContent = message.from;
    item.append(from);
  }
  const meta = message.outgoing ? roomStateLabel(message) : message.fromHistory ? "from history" : "";
  return decorate(item, message, message.outgoing, meta);
}

function renderRoomMessages() {
  const ordered = [...state.messages.values()].sort((a, b) =>
    a.lamport - b.lamport || a.from.localeCompare(b.from) || a.id.localeCompare(b.id));
  const items = withDays(ordered, renderRoomMessage);
  for (const gap of state.gaps) {
    const item = document.createElement("li");
    item.className = "gap";
    item.textContent = `missing ${plural(gap.lastIteration - gap.firstIteration + 1, "message")} from ${gap.from}: asked the other members for them`;
    items.push(item);
  }
  $("messages").replaceChildren(...items, ...uploadItems());
  $("messages").lastElementChild?.scrollIntoView({ block: "end" });
}

function renderRoomHeader() {
  const room = state.rooms.get(state.room);
  if (!room) return;
  $("peer").textContent = room.name;
  $("peer-state").textContent = `room · ${roomDetail(room)}`;
  $("safety").hidden = true;
  $("room-info").hidden = false;
  $("request-banner").hidden = true;
  $("blocked-note").hidden = true;
  $("invite-banner").hidden = room.status !== "invited";
  if (room.status === "invited") $("invite-text").textContent = `You are invited to ${room.name}. Its members: ${room.members.map((m) => m.handle).join(", ")}.`;
  $("compose").hidden = room.status !== "member";
}

async function openRoom(id) {
  if (state.room !== id) clearComposeBanner();
  stopTyping();
  state.current = null;
  state.room = id;
  state.messages = new Map();
  state.gaps = [];
  document.body.classList.add("in-conversation");
  state.roomUnread.delete(id);
  renderRoomHeader();
  renderContacts();
  renderRoomMessages();
  try {
    const history = await api("GET", `/api/groups/${id}/messages?limit=500`);
    if (state.room !== id) return;
    for (const message of history.messages) state.messages.set(message.id, message);
    state.gaps = history.gaps;
    renderRoomMessages();
    if (history.messages.some((m) => m.unread)) await api("POST", `/api/groups/${id}/read`);
  } catch (error) {
    toast(error.message);
  }
  if (!$("compose").hidden) $("compose-text").focus();
}

function personItem(member, buttons) {
  const item = listItem(member.handle, member.admin ? "admin" : "", null);
  if (buttons.length > 0) {
    const row = document.createElement("span");
    row.className = "row-buttons";
    for (const [label, action, className] of buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `small ${className ?? ""}`;
      button.textContent = label;
      button.addEventListener("click", async () => {
        try {
          const room = await action();
          state.rooms.set(room.id, room);
          showRoomDialog();
          renderRooms();
        } catch (error) {
          alert(error.message);
        }
      });
      row.append(button);
    }
    item.querySelector(".item-text").append(row);
  }
  return item;
}

function showRoomDialog() {
  const room = state.rooms.get(state.room);
  if (!room) return;
  const base = `/api/groups/${room.id}`;
  $("room-title").textContent = room.name;
  $("room-summary").textContent = `${plural(room.members.length, "member")} · history for new members ${room.history ? "on" : "off"} · key epoch ${room.epoch}`;
  $("room-invite").hidden = !room.isAdmin;
  $("room-link").textContent = room.inviteLink ?? "";
  const mine = (m) => m.handle === state.me;
  $("room-members").replaceChildren(...room.members.map((m) => personItem(m, !room.isAdmin || mine(m) ? [] : [
    m.admin ? ["Remove admin", () => api("POST", `${base}/members/${path(m.handle)}/demote`)] : ["Make admin", () => api("POST", `${base}/members/${path(m.handle)}/promote`)],
    ["Remove", () => confirm(`Remove ${m.handle}? Everyone gets new keys; they read nothing after this.`) ? api("POST", `${base}/members/${path(m.handle)}/kick`) : Promise.resolve(room), "danger"],
  ])));
  $("room-requests").replaceChildren(...room.requests.map((m) => personItem(m, room.isAdmin ? [
    ["Approve", () => api("POST", `${base}/requests/${path(m.handle)}/approve`), "primary"],
    ["Deny", () => api("POST", `${base}/requests/${path(m.handle)}/deny`)],
  ] : [])));
  $("room-requests-title").hidden = room.requests.length === 0;
  $("room-invited").replaceChildren(...room.invited.map((m) => personItem(m, [])));
  $("room-invited-title").hidden = room.invited.length === 0;
  $("room-log").replaceChildren(...room.log.map((line) => {
    const item = document.createElement("li");
    item.textContent = line;
    return item;
  }));
  $("leave-room").hidden = room.status !== "member";
  if (!$("room-dialog").open) $("room-dialog").showModal();
}

function renderMessage(message) {
  const item = document.createElement("li");
  item.dataset.id = message.id;
  item.className = message.direction === "outgoing" ? "outgoing" : "incoming";
  item.dataset.state = message.state;
  const outgoing = message.direction === "outgoing";
  return decorate(item, message, outgoing, outgoing ? stateLabel(message) : "", message.state === "sending" || message.request);
}

// A bubble's content: the quote it replies to, its text (or that it was deleted), its reactions, its time (and
// "edited"), and the actions on it (reply, react, edit and delete for everyone), shown when the pointer is on it.
function decorate(item, message, outgoing, status, inert = false) {
  if (message.quote) item.append(quoteElement(message.quote, state.me, () => reveal(message.quote.id)));
  const file = message.deleted ? null : state.files.get(message.id);
  const text = file ? fileElement(file, fileActions) : document.createElement("div");
  if (!file) {
    text.className = "text";
    text.textContent = message.deleted ? "This message was deleted." : message.text;
  }
  if (message.deleted) item.classList.add("deleted");
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = [formatTime(message.sentAt), message.editedAt && !message.deleted ? "edited" : "", status].filter(Boolean).join(" · ");
  meta.title = `${formatFull(message.sentAt)}${outgoing ? "" : " (the time on their device)"}${message.editedAt ? `; edited ${formatFull(message.editedAt)}` : ""}`;
  item.append(text);
  if (message.reactions?.length) item.append(reactionsElement(message.reactions, state.me, (emoji) => react(message, mine(message) === emoji ? "" : emoji)));
  item.append(meta);
  if (!message.deleted && !inert && !message.id.startsWith("sending-")) item.append(actionsElement(message, outgoing));
  return item;
}

const mine = (message) => message.reactions?.find((r) => r.from === state.me)?.emoji ?? "";

function actionsElement(message, outgoing) {
  const bar = document.createElement("div");
  bar.className = "actions";
  const button = (className, label, title, onClick) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = label;
    b.title = title;
    b.setAttribute("aria-label", title);
    b.addEventListener("click", onClick);
    bar.append(b);
  };
  button("act-react", "☺", "React", (event) => {
    event.stopPropagation();
    const item = bar.closest("li");
    const open = item.querySelector(".picker");
    document.querySelectorAll("#messages .picker").forEach((p) => p.remove());
    if (!open) item.append(reactionPicker(mine(message), (emoji) => react(message, emoji)));
  });
  button("act-reply", "↩", "Reply", () => startReply(message));
  if (outgoing && !state.room) button("act-delivery", "ⓘ", "Delivery to each device", () => toggleDelivery(bar.closest("li"), message));
  if (canChange(message, outgoing) && !state.files.has(message.id)) {
    button("act-edit", "✎", "Edit", () => startEdit(message));
    button("act-delete", "🗑", "Delete for everyone", () => deleteForEveryone(message));
  }
  return bar;
}

// The path of a message of the open chat or room, for the actions on it.
const messagePath = (message) => state.room ? `/api/groups/${state.room}/messages/${message.id}` : `/api/messages/${path(state.current)}/${message.id}`;

// A message changed (ours, or an event): it keeps the newer delivery state it had.
function update(message) {
  if (state.room) {
    keepRoomMessage(message);
    renderRoomMessages();
  } else {
    keep(message);
    renderMessages();
  }
}

async function act(message, action, body) {
  try {
    update(await api("POST", `${messagePath(message)}/${action}`, body));
  } catch (error) {
    toast(error.message);
  }
}

// Opens (or closes) below a message of ours the list of the recipient's devices that have it.
async function toggleDelivery(item, message) {
  const open = item.querySelector(".delivery");
  if (open) {
    open.remove();
    return;
  }
  try {
    const detail = await api("GET", `${messagePath(message)}/delivery`);
    item.querySelector(".delivery")?.remove();
    item.append(deliveryElement(detail));
  } catch (error) {
    toast(error.message);
  }
}

const react = (message, emoji) => act(message, "react", { emoji });

async function deleteForEveryone(message) {
  if (!confirm("Delete this message for everyone? Its text is erased here and on their devices.")) return;
  await act(message, "delete");
}

function startReply(message) {
  state.editing = null;
  state.reply = message;
  showComposeBanner(`Replying to ${message.from === state.me || message.outgoing || message.direction === "outgoing" ? "yourself" : message.from.split("#")[0]}`, message.text);
  $("compose-text").focus();
}

function startEdit(message) {
  state.reply = null;
  state.editing = message;
  showComposeBanner("Editing message", message.text);
  $("compose-text").value = message.text;
  resizeCompose();
  $("compose-text").focus();
}

function showComposeBanner(title, text) {
  $("compose-banner-title").textContent = title;
  $("compose-banner-text").textContent = text;
  $("compose-banner").hidden = false;
}

function clearComposeBanner() {
  if (state.editing) $("compose-text").value = "";
  state.reply = null;
  state.editing = null;
  $("compose-banner").hidden = true;
}

// Scrolls to the message a quote names, and marks it a moment.
function reveal(id) {
  const item = $("messages").querySelector(`li[data-id="${CSS.escape(id)}"]`);
  if (!item) return;
  item.scrollIntoView({ block: "center" });
  item.classList.add("revealed");
  setTimeout(() => item.classList.remove("revealed"), 1500);
}

// The messages in order, with a separator before each day's first.
function withDays(ordered, render) {
  const items = [];
  let day = null;
  for (const message of ordered) {
    if (dayKey(message.sentAt) !== day) {
      day = dayKey(message.sentAt);
      items.push(daySeparator(message.sentAt));
    }
    items.push(render(message));
  }
  return items;
}

function renderMessages() {
  // Causal order, as every member shows it: Lamport clock, then sender, then id.
  const ordered = [...state.messages.values()].sort((a, b) =>
    a.lamport - b.lamport || a.from.localeCompare(b.from) || a.id.localeCompare(b.id));
  $("messages").replaceChildren(...withDays(ordered, renderMessage));
  if (ordered.length === 0 && state.current && !state.contacts.has(state.current) && !state.requests.has(state.current)) {
    const hint = document.createElement("li");
    hint.className = "hint";
    hint.textContent = "Your first message goes to them as a contact request. They see it when they accept, or when they answer.";
    $("messages").append(hint);
  }
  for (const text of state.notices.get(state.current) ?? []) {
    const notice = document.createElement("li");
    notice.className = "notice";
    notice.textContent = text;
    $("messages").append(notice);
  }
  $("messages").append(...uploadItems());
  $("messages").lastElementChild?.scrollIntoView({ block: "end" });
}

// A delivery state event carries the message as stored, without its quote and reactions: it brings the state only
// (stateOnly); any other copy (a history, the answer to a send, a new message) brings the rest.
function keep(message, stateOnly = false) {
  const known = state.messages.get(message.id);
  // Our own message, heard of (an event) before the answer to its send: it takes its placeholder's place.
  if (!known && message.direction === "outgoing") dropPlaceholder(message.text);
  const newer = !known || (rank[message.state] ?? 0) >= (rank[known.state] ?? 0);
  const delivery = newer ? { state: message.state, storedAt: message.storedAt } : { state: known.state, storedAt: known.storedAt };
  state.messages.set(message.id, { ...(known && stateOnly ? known : message), ...delivery });
}

function dropPlaceholder(text) {
  for (const [id, pending] of state.messages) {
    if (id.startsWith("sending-") && pending.text === text) {
      state.messages.delete(id);
      return;
    }
  }
}

// A room message's copies only ever move on (queued, stored, delivered): the answer to a send can arrive after the
// event that it was delivered, and must not take the message back. An event about our copies brings the counts only.
function keepRoomMessage(message, countsOnly = false) {
  const known = state.messages.get(message.id);
  const newer = !known || message.delivered + message.stored >= known.delivered + known.stored;
  const { recipients, stored, delivered } = newer ? message : known;
  state.messages.set(message.id, { ...(known && countsOnly ? known : message), recipients, stored, delivered });
}

async function refreshLists() {
  const [contacts, requests, unread, presence] = await Promise.all([
    api("GET", "/api/contacts"), api("GET", "/api/requests"), api("GET", "/api/unread"), api("GET", "/api/presence")]);
  state.contacts = new Map(contacts.map((c) => [c.handle, c]));
  state.presence = new Map(presence.map((p) => [p.contact, p]));
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
    : contact.state === "accepted" ? (state.typing.has(handle) ? "typing…" : presenceText(state.presence.get(handle)) || "end-to-end encrypted")
    : contactDetail(contact);
  $("peer-state").classList.toggle("online", contact?.state === "accepted" && state.presence.get(handle)?.online === true);
  $("safety").hidden = !contact && !request;
  $("request-banner").hidden = !request;
  if (request) $("request-text").textContent = `Safety number ${groups(request.safetyNumber)}. Accept, or simply reply, to chat; until then they cannot tell whether you have read it.`;
  const blocked = contact?.state === "blocked";
  $("compose").hidden = blocked;
  $("blocked-note").hidden = !blocked;
}

async function open(handle) {
  if (state.current !== handle) clearComposeBanner();
  stopTyping();
  state.room = null;
  $("room-info").hidden = true;
  $("invite-banner").hidden = true;
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
  clearComposeBanner();
  stopTyping();
  state.current = null;
  state.room = null;
  state.messages = new Map();
  document.body.classList.remove("in-conversation");
  $("peer").textContent = "Pick a chat or find someone";
  $("peer-state").textContent = "";
  for (const id of ["safety", "request-banner", "compose", "blocked-note", "room-info", "invite-banner"]) $(id).hidden = true;
  renderMessages();
  renderContacts();
}

async function sendToRoom(text) {
  const id = state.room;
  const replyTo = state.reply?.id;
  $("compose-text").value = "";
  resizeCompose();
  clearComposeBanner();
  try {
    const message = await api("POST", `/api/groups/${id}/messages`, { text, replyTo });
    if (state.room === id) {
      keepRoomMessage(message);
      renderRoomMessages();
    }
  } catch (error) {
    if (!$("compose-text").value) $("compose-text").value = text;
    toast(error.message);
  }
}

async function send(event) {
  event.preventDefault();
  if (state.editing) {
    const text = $("compose-text").value.trim();
    const editing = state.editing;
    if (!text) return;
    clearComposeBanner();
    $("compose-text").value = "";
    resizeCompose();
    if (text !== editing.text) await act(editing, "edit", { text });
    return;
  }
  if (state.room) {
    const text = $("compose-text").value.trim();
    if (text) await sendToRoom(text);
    return;
  }
  const text = $("compose-text").value.trim();
  const to = state.current;
  if (!text || !to) return;
  const replyTo = state.reply?.id;
  $("compose-text").value = "";
  resizeCompose();
  clearComposeBanner();
  stopTyping();
  // Shown at once; replaced by the node's answer.
  const placeholder = { id: `sending-${++state.sending}`, direction: "outgoing", state: "sending", text, from: state.me ?? "", lamport: Number.MAX_SAFE_INTEGER, sentAt: new Date().toISOString() };
  state.messages.set(placeholder.id, placeholder);
  renderMessages();
  try {
    const message = await api("POST", "/api/messages", { to, text, replyTo });
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

// Files: listed once and kept up to date by the node's file events; a file shows in the bubble of the message that
// carries it.
async function refreshFiles() {
  const files = await api("GET", "/api/files?limit=1000");
  const known = state.files;
  state.files = new Map(files.map((f) => [f.message, newerFile(known.get(f.message), f)]));
  if (state.current) renderMessages();
  else if (state.room) renderRoomMessages();
}

const fileActions = {
  showThumbnail: (image, id) => loadThumbnail(image, id, state.token),
  download: (file) => downloadFile(file, api).catch((error) => toast(`${file.name}: ${error.message}`)),
  fetchAgain: async (file) => {
    try {
      showFile(await api("POST", `/api/files/${file.id}/fetch`));
    } catch (error) {
      toast(error.message);
    }
  },
};

// A transfer ends once (delivered to the contact, or received whole) and never moves back. A view of a file can
// come after a newer one: the answer to an upload after the event that it was delivered, a list fetched while events
// came, or two events the node raised at once; one that is not settled does not replace one that is.
const settledFile = (file) => file.state === "delivered" || file.state === "complete";
const newerFile = (known, file) => (known && settledFile(known) && !settledFile(file) ? known : file);

// A file changed: its part of the bubble is redrawn in place (progress comes a few times a second), or the
// conversation is, when its message is on the page without it yet.
function showFile(file) {
  const known = state.files.get(file.message);
  if (newerFile(known, file) !== file) return;
  state.files.set(file.message, file);
  const shown = $("messages").querySelector(`.file[data-file="${CSS.escape(file.id)}"]`);
  if (shown) {
    shown.replaceWith(fileElement(file, fileActions));
  } else if (!known && $("messages").querySelector(`li[data-id="${CSS.escape(file.message)}"]`)) {
    if (state.room) renderRoomMessages();
    else renderMessages();
  }
}

const uploadItems = () => [...state.uploads.values()]
  .filter((u) => (state.room ? u.room === state.room : u.to === state.current && !u.room))
  .map((u) => uploadElement(u, () => {
    state.uploads.delete(u.id);
    $("messages").querySelector(`li[data-upload="${u.id}"]`)?.remove();
  }));

function redrawUpload(upload) {
  const shown = $("messages").querySelector(`li[data-upload="${upload.id}"]`);
  if (shown) shown.replaceWith(...uploadItems().filter((item) => item.dataset.upload === upload.id));
}

// Sends files to the open chat or room: each is uploaded to the node, which encrypts it and sends its manifest as a
// message; the message and the file's progress then arrive like any other.
async function sendFiles(files) {
  const room = state.room;
  const to = room ? null : state.current;
  if (!room && !to) return;
  await Promise.all([...files].map(async (file) => {
    const upload = { id: `upload-${++state.sending}`, to, room, name: file.name, size: file.size, progress: 0, error: null };
    state.uploads.set(upload.id, upload);
    $("messages").append(...uploadItems().filter((item) => item.dataset.upload === upload.id));
    $("messages").lastElementChild?.scrollIntoView({ block: "end" });
    const url = `${room ? `/api/groups/${room}` : `/api/messages/${path(to)}`}/files?name=${encodeURIComponent(file.name)}`;
    try {
      const sent = await postFile(url, state.token, file, (progress) => {
        upload.progress = progress;
        redrawUpload(upload);
      });
      state.uploads.delete(upload.id);
      // The node raised an event with this view as it answered: an event already here is as new or newer.
      if (!state.files.has(sent.message)) state.files.set(sent.message, sent);
      if (state.room === room && state.current === to) await reloadConversation();
    } catch (error) {
      if (error.status === 401) {
        showLocked("The node refused the token (it changes each time the node starts).");
        return;
      }
      upload.error = error.message;
      redrawUpload(upload);
    }
  }));
}

// Fetches the open conversation's messages again (a file's message is sent by the node, not by the page).
async function reloadConversation() {
  if (state.room) {
    const id = state.room;
    const history = await api("GET", `/api/groups/${id}/messages?limit=500`);
    if (state.room !== id) return;
    for (const message of history.messages) keepRoomMessage(message);
    renderRoomMessages();
  } else if (state.current) {
    const handle = state.current;
    const messages = await api("GET", `/api/messages/${path(handle)}?limit=500`);
    if (state.current !== handle) return;
    for (const message of messages) keep(message);
    renderMessages();
  }
}

const canSendFiles = () => !$("compose").hidden && (state.current || state.room);

// A pasted contact link asks that person to chat, once their Parley's key matches the safety number in the link.
async function addByLink(link) {
  const results = $("find-results");
  const note = document.createElement("li");
  note.className = "empty";
  note.textContent = "checking the link against the directory…";
  results.replaceChildren(note);
  try {
    const added = await api("POST", "/api/contacts/add", { link });
    $("find-input").value = "";
    await refreshLists();
    note.className = "added";
    note.textContent = `✓ The safety number matches: ${added.contact.handle} holds the key the link names. ${added.request ? "Request sent." : "You are already in touch."}`;
    results.replaceChildren(note);
    await open(added.contact.handle);
  } catch (error) {
    note.className = error.data?.safetyNumberMismatch ? "warning" : "empty";
    note.textContent = error.message;
  }
}

// The QR code as SVG, built node by node (no markup from anywhere): one path of the dark modules.
function qrSvg(rows) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${rows[0].length} ${rows.length}`);
  svg.setAttribute("shape-rendering", "crispEdges");
  const dark = document.createElementNS("http://www.w3.org/2000/svg", "path");
  let d = "";
  rows.forEach((row, y) => [...row].forEach((module, x) => { if (module === "1") d += `M${x} ${y}h1v1h-1z`; }));
  dark.setAttribute("d", d);
  dark.setAttribute("fill", "#000");
  svg.append(dark);
  return svg;
}

async function showMyLink() {
  try {
    const link = await api("GET", "/api/link");
    $("link-qr").replaceChildren(qrSvg(link.qr));
    $("my-link-text").textContent = link.link;
    $("my-fingerprint").textContent = groups(link.fingerprint);
    $("link-dialog").showModal();
  } catch (error) {
    toast(error.message);
  }
}

async function find(event) {
  event.preventDefault();
  const query = $("find-input").value.trim();
  const results = $("find-results");
  results.replaceChildren();
  if (!query) return;
  if (query.toLowerCase().startsWith("parley://contact/")) {
    await addByLink(query);
    return;
  }
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
    case "update":
      if (event.message.contact === state.current) update(event.message);
      break;
    case "groupUpdate":
      if (event.groupMessage.room === state.room) update(event.groupMessage);
      break;
    case "typing":
      showTyping(event.typing.contact, event.typing.typing);
      break;
    case "presence":
      if (event.presence.online || event.presence.lastSeen) state.presence.set(event.presence.contact, event.presence);
      else state.presence.delete(event.presence.contact);
      renderContacts();
      if (state.current) renderHeader();
      break;
    case "message":
    case "state": {
      const message = event.message;
      if (event.type === "message") {
        showTyping(message.contact, false);
        notify(message.from, message.text, message.contact === state.current, () => open(message.contact));
      }
      if (message.contact === state.current) {
        keep(message, event.type === "state");
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
    case "session": {
      // A broken session is being repaired: said in the conversation it concerns, now or when it is opened.
      const reset = event.session;
      state.notices.set(reset.contact, [...(state.notices.get(reset.contact) ?? []), `${formatTime(new Date().toISOString())} · ${reset.notice}`]);
      if (reset.contact === state.current) renderMessages();
      break;
    }
    case "group":
      state.rooms.set(event.group.id, event.group);
      renderRooms();
      if (state.room === event.group.id) {
        renderRoomHeader();
        if ($("room-dialog").open) showRoomDialog();
      }
      break;
    case "file":
      showFile(event.file);
      break;
    case "groupMessage": {
      const message = event.groupMessage;
      if (!message.outgoing && message.unread) {
        notify(`${message.from.split("#")[0]} in ${state.rooms.get(message.room)?.name ?? "a room"}`, message.text, message.room === state.room, () => openRoom(message.room));
      }
      if (message.room === state.room) {
        keepRoomMessage(message, message.outgoing);
        renderRoomMessages();
        if (!message.outgoing && document.visibilityState === "visible") api("POST", `/api/groups/${message.room}/read`).catch(() => {});
      } else if (!message.outgoing && message.unread) {
        state.roomUnread.set(message.room, (state.roomUnread.get(message.room) ?? 0) + 1);
        renderContacts();
      }
      break;
    }
  }
}

function connectEvents() {
  if (!state.token) return;
  const socket = new WebSocket(`ws://${location.host}/api/events?access_token=${encodeURIComponent(state.token)}`);
  state.socket = socket;
  socket.addEventListener("open", () => {
    $("status").classList.remove("offline");
    // Catch up on what happened while we were not connected.
    refreshFiles().catch(() => {});
    refreshLists().catch(() => {});
    refreshRooms().catch(() => {});
    if (state.current) open(state.current);
    if (state.room) openRoom(state.room);
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
    showFirstRun();
    return;
  }
  await refreshFiles();
  await refreshLists();
  await refreshRooms();
  state.privacy = await api("GET", "/api/privacy");
  renderNotifyButton();
  connectEvents();
}

// Desktop notifications: asked for only when the user presses the button, never on load. A message is notified when
// its chat is not the one open on a visible page.
function renderNotifyButton() {
  const supported = "Notification" in window;
  $("notify").hidden = !supported || Notification.permission !== "default";
  $("notify-state").textContent = !supported ? "not available in this browser"
    : Notification.permission === "granted" ? "on"
    : Notification.permission === "denied" ? "blocked in the browser's site settings"
    : "off";
  $("notify-enable").hidden = !supported || Notification.permission !== "default";
}

async function enableNotifications() {
  try {
    await Notification.requestPermission();
  } catch (error) {
    toast(error.message);
  }
  renderNotifyButton();
}

function notify(title, body, open, onClick) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (open && document.visibilityState === "visible" && document.hasFocus()) return;
  const notification = new Notification(title, { body, tag: title, icon: "icon.svg" });
  notification.addEventListener("click", () => {
    window.focus();
    onClick();
    notification.close();
  });
}

// Their typing: shown until they stop, send, or 15 s pass without a new note (as Signal).
function showTyping(handle, typing) {
  clearTimeout(state.typing.get(handle));
  if (typing) state.typing.set(handle, setTimeout(() => showTyping(handle, false), 15_000));
  else if (!state.typing.delete(handle)) return;
  renderContacts();
  if (state.current === handle) renderHeader();
}

// Our typing: "started" on the first key and every 10 s while it goes on, "stopped" after 3 s without a key, on send,
// and when the chat closes; only to accepted contacts, and only when the user shares typing indicators.
function typed() {
  const to = state.current;
  if (!to || state.editing || state.contacts.get(to)?.state !== "accepted" || !state.privacy.shareTyping) return;
  const sent = state.typingSent?.to === to ? state.typingSent : null;
  if (!$("compose-text").value) {
    stopTyping();
    return;
  }
  if (!sent || Date.now() - sent.at > 10_000) {
    api("POST", `/api/messages/${path(to)}/typing`, { typing: true }).catch(() => {});
  }
  clearTimeout(sent?.stop);
  state.typingSent = { to, at: sent && Date.now() - sent.at <= 10_000 ? sent.at : Date.now(), stop: setTimeout(stopTyping, 3000) };
}

function stopTyping() {
  const sent = state.typingSent;
  if (!sent) return;
  state.typingSent = null;
  clearTimeout(sent.stop);
  api("POST", `/api/messages/${path(sent.to)}/typing`, { typing: false }).catch(() => {});
}

function showSettings() {
  $("share-presence").checked = state.privacy.sharePresence;
  $("share-typing").checked = state.privacy.shareTyping;
  renderNotifyButton();
  $("settings-dialog").showModal();
}

async function savePrivacy() {
  try {
    state.privacy = await api("POST", "/api/privacy", { sharePresence: $("share-presence").checked, shareTyping: $("share-typing").checked });
    if (!state.privacy.sharePresence) state.presence = new Map();
    else state.presence = new Map((await api("GET", "/api/presence")).map((p) => [p.contact, p]));
    if (!state.privacy.shareTyping) {
      for (const handle of [...state.typing.keys()]) showTyping(handle, false);
    }
    renderContacts();
    if (state.current) renderHeader();
  } catch (error) {
    toast(error.message);
  }
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
$("attach").addEventListener("click", () => $("file-input").click());
$("file-input").addEventListener("change", () => {
  const files = [...$("file-input").files];
  $("file-input").value = "";
  if (files.length > 0) sendFiles(files);
});
// A file dropped on the conversation is sent there; dropped anywhere else, the browser must not open it.
$("conversation").addEventListener("dragover", (event) => {
  if (!canSendFiles() || !event.dataTransfer?.types.includes("Files")) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "copy";
  $("conversation").classList.add("dropping");
});
$("conversation").addEventListener("dragleave", (event) => {
  if (!$("conversation").contains(event.relatedTarget)) $("conversation").classList.remove("dropping");
});
$("conversation").addEventListener("drop", (event) => {
  $("conversation").classList.remove("dropping");
  if (!canSendFiles() || !event.dataTransfer?.files.length) return;
  event.preventDefault();
  sendFiles(event.dataTransfer.files);
});
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => {
    if (event.dataTransfer?.types.includes("Files")) event.preventDefault();
  });
}
$("compose-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
});
$("compose-text").addEventListener("input", () => {
  resizeCompose();
  typed();
});
$("compose-text").addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("compose-banner").hidden) clearComposeBanner();
  // As in Signal Desktop: the up arrow in an empty box edits your last message.
  if (event.key === "ArrowUp" && !$("compose-text").value && !state.editing) {
    const last = [...state.messages.values()].filter((m) => canChange(m, m.direction === "outgoing" || m.outgoing === true) && !m.id.startsWith("sending-"))
      .sort((a, b) => b.lamport - a.lamport)[0];
    if (last) {
      event.preventDefault();
      startEdit(last);
    }
  }
});
$("compose-banner-close").addEventListener("click", clearComposeBanner);
$("settings").addEventListener("click", showSettings);
$("settings-close").addEventListener("click", () => $("settings-dialog").close());
$("share-presence").addEventListener("change", savePrivacy);
$("share-typing").addEventListener("change", savePrivacy);
$("notify").addEventListener("click", enableNotifications);
$("notify-enable").addEventListener("click", enableNotifications);
document.addEventListener("click", (event) => {
  if (!event.target.closest?.(".picker, .act-react")) document.querySelectorAll("#messages .picker").forEach((p) => p.remove());
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") stopTyping();
});
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
$("my-link").addEventListener("click", showMyLink);
setUpDevices(api, qrSvg);
$("link-close").addEventListener("click", () => $("link-dialog").close());
$("copy-my-link").addEventListener("click", () => navigator.clipboard?.writeText($("my-link-text").textContent).catch(() => {}));
$("new-room").addEventListener("click", async () => {
  const name = prompt("Name of the new room:");
  if (!name?.trim()) return;
  try {
    const room = await api("POST", "/api/groups", { name: name.trim(), history: true });
    state.rooms.set(room.id, room);
    await openRoom(room.id);
    showRoomDialog();
  } catch (error) {
    alert(error.message);
  }
});
$("join-room").addEventListener("click", async () => {
  const link = prompt("Paste the room's invite link (parley://join/…):");
  if (!link?.trim()) return;
  try {
    const room = await api("POST", "/api/groups/join", { room: link.trim() });
    state.rooms.set(room.id, room);
    await openRoom(room.id);
  } catch (error) {
    alert(error.message);
  }
});
$("room-info").addEventListener("click", showRoomDialog);
$("room-close").addEventListener("click", () => $("room-dialog").close());
$("invite-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const who = $("invite-input").value.trim();
  if (!who) return;
  try {
    const room = await api("POST", `/api/groups/${state.room}/invite`, { who });
    $("invite-input").value = "";
    state.rooms.set(room.id, room);
    showRoomDialog();
  } catch (error) {
    alert(error.message);
  }
});
$("copy-link").addEventListener("click", () => navigator.clipboard?.writeText($("room-link").textContent).catch(() => {}));
$("leave-room").addEventListener("click", async () => {
  if (!confirm("Leave this room? You will not get its messages any more.")) return;
  try {
    const room = await api("POST", `/api/groups/${state.room}/leave`);
    state.rooms.set(room.id, room);
    $("room-dialog").close();
    renderRoomHeader();
    renderRooms();
  } catch (error) {
    alert(error.message);
  }
});
$("join-invited").addEventListener("click", async () => {
  try {
    const room = await api("POST", "/api/groups/join", { room: state.room });
    state.rooms.set(room.id, room);
    renderRoomHeader();
    renderRooms();
  } catch (error) {
    toast(error.message);
  }
});
$("decline-invited").addEventListener("click", closeConversation);

start();
