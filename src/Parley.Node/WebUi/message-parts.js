// The parts of a message bubble besides its text, and the labels of time: what Signal Desktop shows (a quote above a
// reply, reactions below, "edited", "This message was deleted.", a separator for each day). Pure: no state, no API.
// Everything from the network goes on the page with textContent, never as HTML.

// Signal's default reactions.
export const reactionChoices = ["❤️", "👍", "👎", "😂", "😮", "😢"];

// A message can be edited or deleted for everyone by its author for 24 hours after it was sent (as the node checks).
const changeWindowMs = 24 * 60 * 60 * 1000;

export const canChange = (message, outgoing) =>
  outgoing && !message.deleted && Date.now() - new Date(message.sentAt).getTime() < changeWindowMs;

const startOfDay = (date) => new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();

// "Today", "Yesterday", the weekday within a week, else the date (with the year when it is not this one).
export function dayLabel(iso, now = new Date()) {
  const date = new Date(iso);
  const days = Math.round((startOfDay(now) - startOfDay(date)) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return date.toLocaleDateString([], { weekday: "long" });
  return date.toLocaleDateString([], {
    weekday: "short", day: "numeric", month: "long", ...(date.getFullYear() === now.getFullYear() ? {} : { year: "numeric" }),
  });
}

export const dayKey = (iso) => new Date(iso).toDateString();

export const formatTime = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

export const formatFull = (iso) => new Date(iso).toLocaleString([], { dateStyle: "full", timeStyle: "short" });

// A separator between the messages of two days.
export function daySeparator(iso) {
  const item = document.createElement("li");
  item.className = "day";
  item.setAttribute("role", "separator");
  item.textContent = dayLabel(iso);
  return item;
}

// "online", "last seen today at 14:05", "last seen Yesterday at 09:12"; empty when they share nothing.
export function presenceText(presence) {
  if (!presence) return "";
  if (presence.online) return "online";
  if (!presence.lastSeen) return "";
  return `last seen ${dayLabel(presence.lastSeen).toLowerCase()} at ${formatTime(presence.lastSeen)}`;
}

// The quoted message above a reply: who wrote it and its text as it stands now.
export function quoteElement(quote, me, onClick) {
  const box = document.createElement("div");
  box.className = "quote";
  const from = document.createElement("div");
  from.className = "quote-from";
  const text = document.createElement("div");
  text.className = "quote-text";
  if (!quote.from) {
    from.textContent = "";
    text.textContent = "Original message not found";
    box.classList.add("missing");
  } else {
    from.textContent = quote.from === me ? "You" : quote.from.split("#")[0];
    text.textContent = quote.deleted ? "This message was deleted." : quote.text;
    if (quote.deleted) box.classList.add("deleted");
    box.tabIndex = 0;
    box.title = "Show the message replied to";
    box.addEventListener("click", onClick);
  }
  box.append(from, text);
  return box;
}

// The reactions below a message, one chip per emoji with its count; yours are marked, and a click on one toggles yours.
export function reactionsElement(reactions, me, onToggle) {
  const row = document.createElement("div");
  row.className = "reactions";
  const byEmoji = new Map();
  for (const reaction of reactions) byEmoji.set(reaction.emoji, [...(byEmoji.get(reaction.emoji) ?? []), reaction.from]);
  for (const [emoji, people] of byEmoji) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "reaction";
    chip.dataset.emoji = emoji;
    if (people.includes(me)) chip.classList.add("mine");
    chip.textContent = people.length > 1 ? `${emoji} ${people.length}` : emoji;
    chip.title = people.map((p) => (p === me ? "You" : p.split("#")[0])).join(", ");
    chip.addEventListener("click", () => onToggle(emoji));
    row.append(chip);
  }
  return row;
}

// The row of reactions to choose from; the one already given is marked (choosing it again withdraws it).
export function reactionPicker(current, onChoose) {
  const picker = document.createElement("div");
  picker.className = "picker";
  picker.setAttribute("role", "menu");
  for (const emoji of reactionChoices) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = emoji;
    button.dataset.emoji = emoji;
    button.setAttribute("role", "menuitem");
    if (emoji === current) button.classList.add("mine");
    button.addEventListener("click", () => onChoose(emoji === current ? "" : emoji));
    picker.append(button);
  }
  return picker;
}

// Which of the recipient's devices have one of our messages: each device by its name (or the end of its id), and
// "read", "delivered" or "not yet" with the time.
export function deliveryElement(detail) {
  const list = document.createElement("ul");
  list.className = "delivery";
  for (const device of detail.devices) {
    const row = document.createElement("li");
    row.dataset.device = device.device;
    row.dataset.state = device.state ?? "pending";
    const name = device.name ?? (detail.devices.length === 1 ? "their device" : `device …${device.device.slice(-6)}`);
    const when = device.at ? ` ${formatTime(device.at)}` : "";
    row.textContent = `${name}: ${device.state ? `${device.state}${when}` : "not yet"}`;
    if (device.at) row.title = formatFull(device.at);
    list.append(row);
  }
  return list;
}
