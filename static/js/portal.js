// Tiny progressive enhancements; every page works without JavaScript.
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    button.textContent = "Copied";
  });
});

// [data-refresh-on-parent="<resource uri>"]: a list of that object's children (a cluster's
// nodes) is fetched again when a child is created or deleted; [data-refresh-on-type="node"]:
// a list of the organization's objects of that type (the node list), likewise. live.js
// dispatches "dc:event".
(function () {
  var pending = new Map();

  function refresh(el, name) {
    // One fetch per element at a time: a filtered node list follows both its type's
    // creations and any change, and one event can ask for both.
    var key = el;
    if (pending.has(key)) return;
    var wait = name === "data-refresh-on-change" ? 1000 : 250;
    pending.set(key, setTimeout(function () {  // several at once: one fetch
      fetch(location.href, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          pending.delete(key);
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          var selector = "[" + name + "=\"" + CSS.escape(el.getAttribute(name)) + "\"]";
          var fresh = doc.querySelector(selector);
          if (fresh) el.innerHTML = fresh.innerHTML;
        })
        .catch(function () { pending.delete(key); });
    }, wait));
  }

  function each(name, value) {
    var selector = "[" + name + "=\"" + CSS.escape(value) + "\"]";
    document.querySelectorAll(selector).forEach(function (el) { refresh(el, name); });
  }

  // [data-refresh-every="<seconds>"]: fetched again on that period while the tab is shown
  // (a node's charts: their samples come a minute apart, with no event to say so).
  document.querySelectorAll("[data-refresh-every]").forEach(function (el) {
    var seconds = parseInt(el.getAttribute("data-refresh-every"), 10);
    if (!(seconds > 0)) return;
    setInterval(function () {
      if (!document.hidden) refresh(el, "data-refresh-every");
    }, seconds * 1000);
  });

  document.addEventListener("dc:event", function (event) {
    var detail = event.detail || {};
    if (detail.action !== "create" && detail.action !== "delete") return;
    ((detail.attributes || {}).parents || []).forEach(function (parent) {
      each("data-refresh-on-parent", parent);
    });
    if (detail.seq === null && /^[a-z]+$/.test(detail.type || "")) {
      each("data-refresh-on-type", detail.type);
    }
  });

  // [data-refresh-on-change="node nodecluster action"]: a summary (the fleet at a glance)
  // is fetched again, at most once a second, when any object of those types changes.
  document.addEventListener("dc:event", function (event) {
    var detail = event.detail || {};
    if (detail.seq !== null || !/^[a-z]+$/.test(detail.type || "")) return;
    document.querySelectorAll("[data-refresh-on-change~=\"" + detail.type + "\"]")
      .forEach(function (el) { refresh(el, "data-refresh-on-change"); });
  });
})();

// [data-token-status="<url>"]: the install command's page follows what became of the
// command: waiting, then the node its host registered as, until it is Deployed; and the
// steps the control plane saw (#install-steps), with a failure's reason where known.
(function () {
  var el = document.querySelector("[data-token-status]");
  if (!el) return;
  var url = el.getAttribute("data-token-status");
  var list = document.getElementById("install-steps");
  var failure = document.getElementById("install-failure");

  function steps(body) {
    if (list && body.steps) {
      list.textContent = "";
      body.steps.forEach(function (step) {
        var item = document.createElement("li");
        item.setAttribute("data-step", step.key);
        item.className = step.done ? "done" : "todo";
        item.textContent = (step.done ? "✓ " : "… ") + step.label;
        list.appendChild(item);
      });
    }
    if (failure) {
      failure.hidden = !body.failure;
      failure.textContent = body.failure || "";
    }
  }

  function show(body) {
    steps(body);
    if (body.node) {
      el.textContent = "";
      var link = document.createElement("a");
      link.href = body.node.url;
      link.textContent = body.node.name;
      var badge = document.createElement("span");
      badge.className = "badge " + body.node.state.toLowerCase();
      badge.textContent = body.node.state;
      el.append("Your host registered as ", link, ": ", badge);
      return body.node.state === "Deployed" || body.node.state === "Terminated";
    }
    if (body.expired) {
      el.textContent = "The command expired before a host used it: ask for a new one.";
      return true;
    }
    return false;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) { if (!body || !show(body)) setTimeout(poll, 2000); })
      .catch(function () { setTimeout(poll, 5000); });
  }
  poll();
})();

// [data-filter-list="<id>"]: a search box that shows only the list's entries containing it
// (the organization menu).
document.addEventListener("input", function (event) {
  var box = event.target.closest && event.target.closest("[data-filter-list]");
  if (!box) return;
  var list = document.getElementById(box.getAttribute("data-filter-list"));
  if (!list) return;
  var text = box.value.trim().toLowerCase();
  list.querySelectorAll("li").forEach(function (item) {
    item.hidden = text !== "" && item.textContent.toLowerCase().indexOf(text) === -1;
  });
});

// <time datetime="…Z" data-precision="second|minute|date"> (the `when` template filter): shown
// in the reader's timezone; the title keeps the UTC time. Rows added later (live refreshes)
// are converted as they arrive.
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }

  function local(el) {
    if (el.hasAttribute("data-local")) return;
    var moment = new Date(el.getAttribute("datetime"));
    if (isNaN(moment.getTime())) return;
    var precision = el.getAttribute("data-precision") || "second";
    var text = moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate());
    if (precision !== "date") text += " " + pad(moment.getHours()) + ":" + pad(moment.getMinutes());
    if (precision === "second") text += ":" + pad(moment.getSeconds());
    el.textContent = text;
    el.setAttribute("data-local", "");
  }

  function all(root) { root.querySelectorAll("time[datetime]").forEach(local); }

  window.dcLocalTimes = all;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { all(document); });
  } else {
    all(document);
  }
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      change.addedNodes.forEach(function (node) {
        if (!node.querySelectorAll) return;
        if (node.matches("time[datetime]")) local(node);
        all(node);
      });
    });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();

// The organization menu by keyboard: opening it (Enter or Space on its summary) puts the
// cursor in its search box; Escape closes it and gives focus back to the summary.
document.addEventListener("toggle", function (event) {
  var menu = event.target;
  if (!menu.matches || !menu.matches("details.switcher") || !menu.open) return;
  var box = menu.querySelector("[data-filter-list]");
  if (box) box.focus();
}, true);
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.switcher[open]").forEach(function (menu) {
    menu.open = false;
    menu.querySelector("summary").focus();
  });
});

// [data-follow-logs="<url>"] (a <pre>): a container's logs, followed: the lines after the
// last one shown (data-after, the daemon's time of it) are fetched every second and appended.
(function () {
  var el = document.querySelector("[data-follow-logs]");
  if (!el) return;
  var url = el.getAttribute("data-follow-logs");
  var after = el.getAttribute("data-after");
  var status = document.querySelector("[data-follow-status]");
  var MAX_LINES = 5000;

  function poll() {
    if (document.hidden) { setTimeout(poll, 1000); return; }
    fetch(url + "?after=" + encodeURIComponent(after), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body) { setTimeout(poll, 5000); return; }
        if (status) status.textContent = body.error || "following";
        body.lines.forEach(function (line) { el.append(line.log + "\n"); });
        while (el.childNodes.length > MAX_LINES) el.removeChild(el.firstChild);
        after = body.after;
        setTimeout(poll, body.error ? 5000 : 1000);  // a daemon that does not answer: slower
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();

// [data-include="<url>"]: the part [data-include-part] of the page at url, loaded now (unless
// data-include-loaded: the server rendered it) and again, at most once a second, when a live
// event of a type in data-include-on arrives (a node's containers, on its docker events).
(function () {
  function load(el) {
    fetch(el.getAttribute("data-include"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var part = doc.querySelector("[data-include-part]");
        if (part) el.replaceChildren(document.importNode(part, true));
      })
      .catch(function () {});
  }

  var pending = new Map();
  document.querySelectorAll("[data-include]").forEach(function (el) {
    if (!el.hasAttribute("data-include-loaded")) load(el);
  });
  document.addEventListener("dc:event", function (event) {
    var type = (event.detail || {}).type || "";
    document.querySelectorAll("[data-include-on]").forEach(function (el) {
      if (el.getAttribute("data-include-on").split(" ").indexOf(type) === -1) return;
      if (pending.has(el)) return;
      pending.set(el, setTimeout(function () { pending.delete(el); load(el); }, 1000));
    });
  });
})();
