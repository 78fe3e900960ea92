// Live events for portal pages (templates/nodes/_live.html): one websocket per page that
// subscribes every [data-live-org] element, reconnects with backoff, and catches up from the
// last event id it saw. Pages work without it; it only keeps them current.
//
// Markup it reads:
//   [data-live-org="acme"] [data-live-node="<uuid>"]   one subscription (node optional)
//     data-live-since="<id>"    newest event id already rendered (else the last N are fetched)
//     data-live-recent="20"     how many to fetch when there is no since
//     data-live-filter-type / -action / -node           only show matching rows
//   [data-live-events] (a <tbody> inside it)           new rows go on top; data-live-limit
//     data-live-node-column     rows have a Node column
//   [data-live-status]          "live" / "reconnecting…"
//   [data-node-state="<uuid>"], [data-nodecluster-state=…], [data-action-state=…]
//                               text (and badge class) follow the object's state
//   [data-node-reason="<uuid>"] text follows why the node is Unreachable (empty otherwise)
// Every event is also dispatched on document as a "dc:event" CustomEvent (detail = event).
(function () {
  "use strict";
  if (window.dcLive) return;
  window.dcLive = { subscriptions: [] };

  var RETRY_MIN = 1000, RETRY_MAX = 30000, SEEN_MAX = 5000;
  var subs = window.dcLive.subscriptions, seen = new Set(), seenOrder = [];
  var socket = null, retry = RETRY_MIN, stopped = false;

  function attr(el, name) { return el.getAttribute(name) || ""; }

  function collect() {
    document.querySelectorAll("[data-live-org]").forEach(function (el) {
      var since = parseInt(attr(el, "data-live-since"), 10);
      subs.push({
        el: el,
        org: attr(el, "data-live-org"),
        node: attr(el, "data-live-node") || null,
        lastId: isNaN(since) ? null : since,
        recent: parseInt(attr(el, "data-live-recent"), 10) || 0,
        filter: {
          type: attr(el, "data-live-filter-type"),
          action: attr(el, "data-live-filter-action"),
          node: attr(el, "data-live-filter-node"),
        },
      });
    });
  }

  function setStatus(text) {
    document.querySelectorAll("[data-live-status]").forEach(function (el) { el.textContent = text; });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/events/");
    socket.onopen = function () {
      subs.forEach(function (sub) {
        var message = { type: "subscribe", org: sub.org, node: sub.node };
        if (sub.lastId !== null) message.since = sub.lastId;
        else message.recent = sub.recent;
        socket.send(JSON.stringify(message));
      });
    };
    socket.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame.type === "subscribed") subscribed(frame);
      else if (frame.type === "events") received(frame);
      else if (frame.type === "error") setStatus("unavailable: " + frame.error);
    };
    socket.onclose = function (event) {
      socket = null;
      if (event.code === 4403) { setStatus("access removed"); stopped = true; return; }
      if (event.code === 4401) { setStatus("signed out"); stopped = true; return; }
      if (stopped) return;
      setStatus("reconnecting…");
      var wait = retry + Math.random() * retry * 0.25;
      retry = Math.min(retry * 2, RETRY_MAX);
      setTimeout(connect, wait);
    };
  }

  function matching(event) {
    return subs.filter(function (sub) {
      return sub.org === event.org && (!sub.node || sub.node === event.node);
    });
  }

  function subscribed(frame) {
    retry = RETRY_MIN;
    setStatus("live");
    subs.forEach(function (sub) {
      if (sub.org === frame.org && sub.node === frame.node && sub.lastId === null) {
        sub.lastId = frame.last_id;
      }
    });
    (frame.nodes || []).forEach(function (node) { setState("node", node.uuid, node.state); });
  }

  function received(frame) {
    if (frame.truncated) { location.reload(); return; }
    frame.events.forEach(function (event) {
      if (seen.has(event.id)) return;
      seen.add(event.id);
      seenOrder.push(event.id);
      if (seenOrder.length > SEEN_MAX) seen.delete(seenOrder.shift());
      matching(event).forEach(function (sub) {
        if (sub.lastId === null || event.id > sub.lastId) sub.lastId = event.id;
        if (passes(sub.filter, event)) addRow(sub.el, event);
      });
      var attrs = event.attributes || {};
      if (event.seq === null && attrs.state) setState(event.type, event.actor, attrs.state);
      if (event.seq === null && event.type === "node") setReason(event.actor, attrs.reason);
      document.dispatchEvent(new CustomEvent("dc:event", { detail: event }));
    });
  }

  function passes(filter, event) {
    if (filter.type && filter.type !== event.type) return false;
    if (filter.node && filter.node !== event.node) return false;
    if (filter.action && event.action !== filter.action &&
        event.action.indexOf(filter.action + ":") !== 0) return false;
    return true;
  }

  function setState(type, uuid, state) {
    if (!/^[a-z]+$/.test(type) || !/^[0-9a-f-]+$/.test(uuid)) return;
    var selector = "[data-" + type + "-state=\"" + uuid + "\"]";
    document.querySelectorAll(selector).forEach(function (el) {
      var previous = el.getAttribute("data-state") || el.textContent.trim();
      if (el.classList.contains("badge")) {
        previous.toLowerCase().split(/\s+/).forEach(function (c) { if (c) el.classList.remove(c); });
        state.toLowerCase().split(/\s+/).forEach(function (c) { el.classList.add(c); });
      }
      el.setAttribute("data-state", state);
      el.textContent = state;
    });
  }

  // [data-node-reason="<uuid>"]: why the node is Unreachable; emptied when it is not.
  function setReason(uuid, reason) {
    if (!/^[0-9a-f-]+$/.test(uuid)) return;
    document.querySelectorAll("[data-node-reason=\"" + uuid + "\"]").forEach(function (el) {
      el.textContent = typeof reason === "string" ? reason : "";
    });
  }

  function describe(event) {
    var attrs = event.attributes || {};
    if (event.type === "gap") return (attrs.dropped || "?") + " events lost (node buffer full)";
    if (event.seq === null && attrs.state) {
      return attrs.name ? attrs.name + " → " + attrs.state : String(attrs.state);
    }
    var name = attrs.name || (event.actor || "").slice(0, 12);
    var extra = ["image", "exitCode"].filter(function (k) { return attrs[k]; })
      .map(function (k) { return k + "=" + attrs[k]; });
    return extra.length ? name + " (" + extra.join(", ") + ")" : name;
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  // As the `when` template filter renders it; portal.js shows it in the reader's timezone.
  function timeCell(row, iso) {
    var td = document.createElement("td"), time = document.createElement("time");
    var utc = iso.slice(0, 19).replace("T", " ");
    time.setAttribute("datetime", iso);
    time.setAttribute("title", utc + " UTC");
    time.textContent = utc + " UTC";
    td.appendChild(time);
    row.appendChild(td);
  }

  function addRow(el, event) {
    el.querySelectorAll("[data-live-events]").forEach(function (body) {
      if (body.querySelector("tr[data-id=\"" + event.id + "\"]")) return;
      var row = document.createElement("tr");
      row.setAttribute("data-id", event.id);
      timeCell(row, event.time);
      if (body.hasAttribute("data-live-node-column")) cell(row, event.node_name || "—");
      cell(row, event.type);
      cell(row, event.action);
      cell(row, describe(event));
      var empty = body.querySelector("tr[data-live-empty]");
      if (empty) empty.remove();
      // Keep rows newest first even when a catch-up brings older ones after newer ones.
      var before = null;
      body.querySelectorAll("tr[data-id]").forEach(function (other) {
        if (!before && parseInt(other.getAttribute("data-id"), 10) < event.id) before = other;
      });
      body.insertBefore(row, before);
      var limit = parseInt(body.getAttribute("data-live-limit"), 10) || 50;
      var rows = body.querySelectorAll("tr[data-id]");
      for (var i = limit; i < rows.length; i++) rows[i].remove();
    });
  }

  function start() {
    collect();
    if (!subs.length || !window.WebSocket) return;
    document.querySelectorAll("[data-live-events] tr[data-id]").forEach(function (row) {
      var id = parseInt(row.getAttribute("data-id"), 10);
      if (!isNaN(id)) { seen.add(id); seenOrder.push(id); }
    });
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
