/* Instant messages and presence, live, on every client portal page of a client's people (templates/
   base.html): one socket, /ws/im/ (im/consumers.py). It keeps the menu's unread count, and on the chat
   pages (templates/im/) the conversations' counts, a conversation's new messages (put in as text, never
   as HTML), who is typing, and the colleagues' presence. Without scripts the pages work as plain forms. */
(function () {
  "use strict";
  if (!window.WebSocket || !window.JSON) { return; }
  var unread = document.getElementById("im-unread");
  var history = document.getElementById("im-history");
  var sendForm = document.getElementById("im-send");
  var typingLine = document.getElementById("im-typing");
  var labelsNode = document.getElementById("presence-labels");
  var labels = labelsNode ? JSON.parse(labelsNode.textContent) : {};
  var current = history && history.getAttribute("data-live") === "1" ? Number(history.getAttribute("data-conversation")) : null;
  var me = history ? Number(history.getAttribute("data-me")) : null;
  var socket = null, typingTimer = null, lastTyping = 0, retry = 1000;

  function setUnread(n) {
    if (!unread) { return; }
    unread.textContent = String(n);
    unread.className = n ? "badge up" : "badge";
  }

  function showPresence(map) {
    Object.keys(map).forEach(function (id) {
      var badge = document.querySelector('[data-presence="' + id + '"]');
      if (badge) {
        badge.textContent = labels[map[id]] || map[id];
        badge.className = "badge presence-" + map[id];
      }
    });
  }

  function append(message) {
    if (!history || document.querySelector('[data-message="' + message.id + '"]')) { return; }
    var empty = history.querySelector("li.empty");
    if (empty) { empty.remove(); }
    var li = document.createElement("li");
    li.setAttribute("data-message", message.id);
    if (message.sender === me) { li.className = "mine"; }
    var who = document.createElement("strong");
    who.textContent = message.sender_name;
    var at = document.createElement("time");
    at.setAttribute("datetime", message.sent_at);
    var when = new Date(message.sent_at);
    at.textContent = ("0" + when.getHours()).slice(-2) + ":" + ("0" + when.getMinutes()).slice(-2);
    var body = document.createElement("div");
    body.className = "im-body";
    body.textContent = message.body;  // text: a message's HTML stays text
    li.appendChild(who);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(at);
    li.appendChild(body);
    history.appendChild(li);
    li.scrollIntoView({block: "nearest"});
  }

  function send(data) {
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify(data)); return true; }
    return false;
  }

  function receive(event) {
    var data = JSON.parse(event.data);
    if (data.type === "im.hello") {
      setUnread(data.unread);
      showPresence(data.presence);
    } else if (data.type === "presence.changed") {
      showPresence(data.presence);
    } else if (data.type === "im.message") {
      var m = data.message;
      if (current !== null && m.conversation === current) {
        append(m);
        if (typingLine) { typingLine.textContent = ""; }
        if (m.sender !== me && document.visibilityState !== "hidden") {
          send({read: current, up_to: m.id});
          return;
        }
      }
      setUnread(data.unread);
      var count = document.querySelector('[data-unread="' + m.conversation + '"]');
      if (count) {
        count.textContent = String(data.conversation_unread);
        count.className = data.conversation_unread ? "badge up" : "badge";
      }
    } else if (data.type === "im.read") {
      setUnread(data.unread);
      var own = document.querySelector('[data-unread="' + data.conversation + '"]');
      if (own) { own.textContent = "0"; own.className = "badge"; }
    } else if (data.type === "im.typing" && current !== null && data.conversation === current && typingLine) {
      typingLine.textContent = data.name + " " + typingLine.getAttribute("data-typing");
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typingLine.textContent = ""; }, 4000);
    } else if (data.type === "im.error" && sendForm) {
      var fields = data.fields || {};
      var text = (fields.body || [data.detail || ""]).join(" ");
      showError(text);
    } else if (data.type === "im.sent" && sendForm) {
      showError("");
    }
  }

  function showError(text) {
    var box = document.getElementById("im-send-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "im-send-error";
      box.className = "error";
      box.setAttribute("role", "alert");
      sendForm.insertBefore(box, sendForm.querySelector("button"));
    }
    box.textContent = text;
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/im/");
    socket.onmessage = receive;
    socket.onopen = function () { retry = 1000; document.documentElement.setAttribute("data-im-live", "1"); };
    socket.onclose = function (event) {
      document.documentElement.removeAttribute("data-im-live");
      if (event.code >= 4400 && event.code < 4500) { return; }  // refused: signed out, suspended
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  if (sendForm && current !== null) {
    var box = sendForm.querySelector("textarea");
    sendForm.addEventListener("submit", function (event) {
      if (box.value.trim() && send({send: current, body: box.value})) {
        event.preventDefault();
        box.value = "";
      }
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        sendForm.requestSubmit();
        return;
      }
      var now = Date.now();
      if (now - lastTyping > 2000) { lastTyping = now; send({typing: current}); }
    });
  }
  connect();
})();
