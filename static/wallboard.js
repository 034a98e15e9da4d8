/* The queues' wallboard, live (templates/queues/wallboard.html): the socket /ws/queues/<queue or all>/
   (queues/consumers.py) sends the board's snapshot at once and after each queue or call event of the
   client; this script draws it into the tables the server rendered, and ticks the waits and the
   agents' times every second (offset by the server's clock). Without scripts the page reloads. */
(function () {
  "use strict";
  var board = document.getElementById("wallboard");
  if (!board || !window.WebSocket || !window.JSON) { return; }
  var labels = JSON.parse(document.getElementById("wallboard-labels").textContent);
  var stateText = document.getElementById("wallboard-state");
  var skew = 0;  // server clock minus ours, seconds

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    var mm = h ? (m < 10 ? "0" : "") + m : String(m);
    return (h ? h + ":" : "") + mm + ":" + (s < 10 ? "0" : "") + s;
  }

  function cell(row, text, attrs) {
    var td = document.createElement("td");
    if (attrs) {
      var span = document.createElement("span");
      Object.keys(attrs).forEach(function (k) { span.setAttribute(k, attrs[k]); });
      td.appendChild(span);
    } else {
      td.textContent = text == null ? "" : text;
    }
    row.appendChild(td);
    return td;
  }

  function empty(body, text, cols) {
    var row = document.createElement("tr");
    row.className = "empty";
    var td = cell(row, text);
    td.colSpan = cols;
    body.appendChild(row);
  }

  function draw(snapshot) {
    skew = snapshot.now - Date.now() / 1000;
    var queues = board.querySelector("#wb-queues tbody");
    var callers = board.querySelector("#wb-callers tbody");
    var agents = board.querySelector("#wb-agents tbody");
    queues.textContent = ""; callers.textContent = ""; agents.textContent = "";
    snapshot.queues.forEach(function (q) {
      var row = document.createElement("tr");
      row.setAttribute("data-queue", q.id);
      cell(row, q.name);
      cell(row, q.waiting.length).setAttribute("data-cell", "waiting");
      if (q.waiting.length) { cell(row, "", { "data-since": q.waiting[0].since }); } else { cell(row, "-"); }
      cell(row, (q.service_level == null ? "-" : q.service_level + " %") + " (" +
        labels.within.replace("%(s)s", q.service_level_seconds) + ")").setAttribute("data-cell", "level");
      cell(row, q.offered_today); cell(row, q.answered_today); cell(row, q.abandoned_today);
      queues.appendChild(row);
      q.waiting.forEach(function (c) {
        var r = document.createElement("tr");
        r.setAttribute("data-call", c.call);
        cell(r, (c.number || "-") + (c.name ? " (" + c.name + ")" : ""));
        cell(r, q.name);
        cell(r, "", { "data-since": c.since });
        cell(r, c.offered ? labels.offered : labels.waiting);
        callers.appendChild(r);
      });
    });
    if (!callers.children.length) { empty(callers, labels.nobody, 4); }
    snapshot.agents.forEach(function (a) {
      var row = document.createElement("tr");
      row.setAttribute("data-agent", a.extension);
      row.setAttribute("data-state", a.state);
      cell(row, a.extension + " " + (a.name || ""));
      cell(row, labels.states[a.state] + (a.reason ? ": " + a.reason : "")).setAttribute("data-cell", "state");
      cell(row, (a.with || "") + (a.with_name ? " (" + a.with_name + ")" : ""));
      if (a.since) { cell(row, "", { "data-since": a.since }); }
      else if (a.until) { cell(row, "", { "data-until": a.until }); }
      else { cell(row, ""); }
      cell(row, a.queues.join(", "));
      agents.appendChild(row);
    });
    tick();
    if (stateText) { stateText.textContent = stateText.getAttribute("data-live-updated") + " " + new Date().toLocaleTimeString() + "."; }
  }

  function tick() {
    var now = Date.now() / 1000 + skew;
    board.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = duration(now - parseFloat(el.getAttribute("data-since")));
    });
    board.querySelectorAll("[data-until]").forEach(function (el) {
      el.textContent = duration(parseFloat(el.getAttribute("data-until")) - now);
    });
  }
  skew = parseFloat(board.getAttribute("data-now")) - Date.now() / 1000;
  setInterval(tick, 1000);

  var wait = 1000;
  function connect() {
    var which = board.getAttribute("data-which");
    var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/queues/" + which + "/");
    socket.onopen = function () { wait = 1000; };
    socket.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (event.type === "wallboard.snapshot") { draw(event.wallboard); }
    };
    socket.onclose = function (closed) {
      if (stateText) { stateText.textContent = stateText.getAttribute("data-live-lost"); }
      if (closed.code >= 4400) { return; }
      setTimeout(connect, wait);
      wait = Math.min(wait * 2, 30000);
    };
  }
  connect();
})();
