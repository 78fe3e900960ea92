// static/js/live.js against a tiny fake DOM and a fake WebSocket (node, no dependencies).
// Run by tests/events/test_live_js.py; prints "ok" or throws.
"use strict";
const assert = require("assert");
const fs = require("fs");
const path = require("path");
const vm = require("vm");

// --- a fake DOM: just what live.js uses ---------------------------------------------------
class Element {
  constructor(tag, attrs = {}, text = "") {
    this.tagName = tag.toUpperCase();
    this.attrs = Object.assign({}, attrs);
    this.children = [];
    this.parent = null;
    this._text = text;
    const el = this;
    this.classList = {
      add: (c) => { const s = el._classes(); s.add(c); el.attrs.class = [...s].join(" "); },
      remove: (c) => { const s = el._classes(); s.delete(c); el.attrs.class = [...s].join(" "); },
      contains: (c) => el._classes().has(c),
    };
  }
  _classes() { return new Set((this.attrs.class || "").split(/\s+/).filter(Boolean)); }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  set textContent(value) { this.children = []; this._text = String(value); }
  getAttribute(name) { return name in this.attrs ? this.attrs[name] : null; }
  setAttribute(name, value) { this.attrs[name] = String(value); }
  hasAttribute(name) { return name in this.attrs; }
  appendChild(child) { return this.insertBefore(child, null); }
  insertBefore(child, before) {
    if (child.parent) child.remove();
    child.parent = this;
    const at = before ? this.children.indexOf(before) : -1;
    if (at < 0) this.children.push(child); else this.children.splice(at, 0, child);
    return child;
  }
  remove() {
    if (!this.parent) return;
    this.parent.children.splice(this.parent.children.indexOf(this), 1);
    this.parent = null;
  }
  _descendants() { return this.children.flatMap((c) => [c, ...c._descendants()]); }
  querySelectorAll(selector) {
    const parts = selector.trim().split(/\s+(?=(?:[^"]*"[^"]*")*[^"]*$)/).map(parse);
    const found = this._descendants().filter((el) => matchesChain(el, parts, this));
    found.forEach = Array.prototype.forEach;
    return found;
  }
  querySelector(selector) { return this.querySelectorAll(selector)[0] || null; }
}

function parse(part) {
  const m = /^([a-z]*)(?:\[([a-z-]+)(?:="([^"]*)")?\])?$/.exec(part);
  if (!m) throw new Error("selector not supported by the fake DOM: " + part);
  return { tag: m[1].toUpperCase(), attr: m[2], value: m[3] };
}

function matches(el, p) {
  if (p.tag && el.tagName !== p.tag) return false;
  if (p.attr && !el.hasAttribute(p.attr)) return false;
  return p.value === undefined || el.getAttribute(p.attr) === p.value;
}

function matchesChain(el, parts, root) {
  if (!matches(el, parts[parts.length - 1])) return false;
  let i = parts.length - 2;
  for (let node = el.parent; i >= 0 && node && node !== root.parent; node = node.parent) {
    if (matches(node, parts[i])) i--;
  }
  return i < 0;
}

// --- the page: a node page with a state badge and an events table -------------------------
const NODE = "6f0c7a3e-1111-4222-8333-944444444444";
const body = new Element("body");
const badge = body.appendChild(new Element("span", { class: "badge deploying", "data-node-state": NODE }, "Deploying"));
const section = body.appendChild(new Element("section", { "data-live-org": "acme", "data-live-node": NODE, "data-live-recent": "20" }));
const status = section.appendChild(new Element("small", { "data-live-status": "" }));
const tbody = section.appendChild(new Element("tbody", { "data-live-events": "", "data-live-limit": "3" }));
tbody.appendChild(new Element("tr", { "data-live-empty": "" }));

const sockets = [];
class FakeWebSocket {
  constructor(url) { this.url = url; this.sent = []; sockets.push(this); }
  send(text) { this.sent.push(JSON.parse(text)); }
  open() { this.onopen(); }
  frame(obj) { this.onmessage({ data: JSON.stringify(obj) }); }
  closeWith(code) { this.onclose({ code }); }
}
const timers = [];
const dispatched = [];
const sandbox = {
  window: { WebSocket: FakeWebSocket },
  WebSocket: FakeWebSocket,
  document: {
    readyState: "complete",
    querySelectorAll: (s) => body.querySelectorAll(s),
    createElement: (tag) => new Element(tag),
    addEventListener: () => {},
    dispatchEvent: (e) => dispatched.push(e.detail),
  },
  location: { protocol: "http:", host: "cp.test:8000", reload: () => { sandbox.reloaded = true; } },
  setTimeout: (fn, ms) => timers.push({ fn, ms }),
  CustomEvent: class { constructor(type, init) { this.type = type; this.detail = init.detail; } },
  Math, JSON, Set, parseInt, isNaN, String,
};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(path.join(__dirname, "../../static/js/live.js"), "utf8"), sandbox);

function event(id, extra = {}) {
  return Object.assign({
    id, uuid: "u" + id, org: "acme", node: NODE, node_name: "web-1", seq: id,
    time: "2026-01-31T12:00:0" + (id % 10) + ".000000Z", type: "container", action: "start",
    actor: "c" + id, attributes: { name: "web", image: "busybox" },
  }, extra);
}
const rowIds = () => tbody.querySelectorAll("tr[data-id]").map((r) => Number(r.getAttribute("data-id")));

// First connection: no since yet, so the last 20 are asked for.
assert.strictEqual(sockets.length, 1);
const first = sockets[0];
assert.strictEqual(first.url, "ws://cp.test:8000/ws/events/");
first.open();
assert.deepStrictEqual(first.sent, [{ type: "subscribe", org: "acme", node: NODE, recent: 20 }]);
first.frame({ type: "subscribed", org: "acme", node: NODE, nodes: [{ uuid: NODE, state: "Deployed" }], last_id: 7 });
assert.strictEqual(status.textContent, "live");
assert.strictEqual(badge.textContent, "Deployed");
assert.ok(badge.classList.contains("deployed") && !badge.classList.contains("deploying"));

// Rows newest first, duplicates dropped, the limit kept, older catch-up rows slotted in.
first.frame({ type: "events", catchup: true, truncated: false, events: [event(5), event(7)] });
first.frame({ type: "events", catchup: false, truncated: false, events: [event(8), event(7)] });
assert.deepStrictEqual(rowIds(), [8, 7, 5]);
assert.strictEqual(tbody.querySelector("tr[data-live-empty]"), null);
first.frame({ type: "events", catchup: false, truncated: false, events: [event(6), event(9)] });
assert.deepStrictEqual(rowIds(), [9, 8, 7]);
const cells = tbody.querySelector('tr[data-id="9"]').children.map((c) => c.textContent);
assert.deepStrictEqual(cells, ["2026-01-31 12:00:09 UTC", "container", "start", "web (image=busybox)"]);
assert.strictEqual(dispatched.length, 5);

// A node state change updates the badge; text is set as text, never as markup.
first.frame({ type: "events", catchup: false, truncated: false, events: [event(10, {
  type: "node", action: "update", seq: null, actor: NODE,
  attributes: { state: "Unreachable", resource_uri: "/x/", parents: [] } })] });
assert.strictEqual(badge.textContent, "Unreachable");
assert.ok(badge.classList.contains("unreachable"));
assert.deepStrictEqual(rowIds(), [10, 9, 8]);
assert.strictEqual(tbody.querySelector('tr[data-id="10"]').children[3].textContent, "Unreachable");

// The socket drops: reconnect after the backoff and catch up from the last id seen.
first.closeWith(1006);
assert.strictEqual(status.textContent, "reconnecting…");
assert.strictEqual(timers.length, 1);
assert.ok(timers[0].ms >= 1000 && timers[0].ms <= 1250);
timers.shift().fn();
const second = sockets[1];
second.open();
assert.deepStrictEqual(second.sent, [{ type: "subscribe", org: "acme", node: NODE, since: 10 }]);
second.frame({ type: "subscribed", org: "acme", node: NODE, nodes: [], last_id: 12 });
second.frame({ type: "events", catchup: true, truncated: false, events: [event(9), event(11), event(12)] });
assert.deepStrictEqual(rowIds(), [12, 11, 10]);  // 9 was seen already

// A truncated catch-up reloads the page; a removed member stops reconnecting.
second.frame({ type: "events", catchup: true, truncated: true, events: [] });
assert.strictEqual(sandbox.reloaded, true);
second.closeWith(4403);
assert.strictEqual(status.textContent, "access removed");
assert.strictEqual(timers.length, 0);
console.log("ok");
