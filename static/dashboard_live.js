/* The dashboards, live: the socket asks for its account's figures ({"watch": "dashboard"}) and the
   server pushes them again whenever calls start and end, phones register or conferences change
   (tenants/consumers.py, tenants/figures.py). The page is complete without it. */
(function () {
  "use strict";
  var board = document.querySelector("[data-dashboard]");
  if (!board || !window.WebSocket) { return; }
  var stateText = board.querySelector("[data-live-state]");

  function cell(row, text, badge) {
    var td = document.createElement("td");
    if (badge) {
      var span = document.createElement("span");
      span.className = "badge " + badge;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
  }

  // Texts in the page's language (data-text-* of the board), with {name} filled in.
  function said(name, fallback, values) {
    var text = board.getAttribute("data-text-" + name) || fallback;
    return text.replace(/\{(\w+)\}/g, function (whole, key) { return key in values ? values[key] : whole; });
  }

  var columns = {
    causes: function (r, row) { cell(row, r.label); cell(row, r.count); },
    busiest: function (r, row) { cell(row, r.name); cell(row, r.calls); cell(row, r.registered); },
    engines: function (r, row) {
      cell(row, r.id); cell(row, r.address); cell(row, said("state-" + r.state, r.state, {}), r.state);
      cell(row, said("calls-of", "{calls} of {capacity}", { calls: r.calls, capacity: r.capacity })); cell(row, r.load + "%"); cell(row, r.participants);
    },
    edges: function (r, row) {
      var up = r.up ? "up" : "down";
      cell(row, r.id); cell(row, r.address); cell(row, said("state-" + up, up, {}), up); cell(row, said("ago", "{age} s ago", { age: r.age }));
    }
  };

  function list(body, rows, fill) {
    var width = body.parentNode.querySelectorAll("thead th").length;
    while (body.firstChild) { body.removeChild(body.firstChild); }
    if (!rows.length) {
      var empty = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = width;
      td.textContent = body.getAttribute("data-empty");
      empty.appendChild(td);
      body.appendChild(empty);
      return;
    }
    rows.forEach(function (r) {
      var row = document.createElement("tr");
      fill(r, row);
      body.appendChild(row);
    });
  }

  function show(figures) {
    board.querySelectorAll("[data-figure]").forEach(function (el) {
      var name = el.getAttribute("data-figure");
      if (name in figures) { el.textContent = figures[name]; }
    });
    board.querySelectorAll("[data-list]").forEach(function (body) {
      var name = body.getAttribute("data-list");
      if (figures[name] && columns[name]) { list(body, figures[name], columns[name]); }
    });
    if (stateText) { stateText.textContent = (stateText.getAttribute("data-live-updated") || "Live: updated") + " " + new Date().toLocaleTimeString() + "."; }
  }

  var wait = 1000;
  function connect() {
    var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/events/");
    socket.onopen = function () { wait = 1000; socket.send(JSON.stringify({ watch: "dashboard" })); };
    socket.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (event.type === "dashboard.figures") { show(event.figures); }
    };
    socket.onclose = function (closed) {
      if (stateText) { stateText.textContent = stateText.getAttribute("data-live-lost") || "Not live: reload the page for today's figures."; }
      if (closed.code >= 4400) { return; }  // signed out or suspended: no use trying again
      setTimeout(connect, wait);
      wait = Math.min(wait * 2, 30000);
    };
  }
  connect();
})();
