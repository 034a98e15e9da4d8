/* The agents' chat console, live (templates/chat/console.html): the socket /ws/chat/ (chat/console.py)
   sends a snapshot (status, open chats with their lines, canned answers, colleagues and queues), then
   offers, lines, typing, withdrawn offers and chats given by a transfer; the agent accepts, sends,
   transfers, closes and pauses through it. Everything a visitor or colleague wrote is put in the page
   with textContent only. */
(function () {
  "use strict";
  var live = document.getElementById("chat-live");
  if (!live || !window.WebSocket || !window.JSON) { return; }
  var labels = JSON.parse(document.getElementById("chat-labels").textContent);
  var statusBox = document.getElementById("chat-status");
  var offersBox = document.getElementById("chat-offers");
  var tabs = document.getElementById("chat-tabs");
  var serverList = document.getElementById("chat-open-list");
  var socket = null, canned = [], agents = [], queues = [], chats = {}, status = {};

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text != null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  function send(data) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(data)); }
  }

  function drawStatus() {
    statusBox.textContent = "";
    var text = (status.paused ? labels.paused + (status.reason ? " (" + status.reason + ")" : "") : labels.available) +
      " · " + labels.chats + ": " + (status.chats || 0) + " / " + (status.chat_limit || 0);
    statusBox.appendChild(el("strong", text));
    var button = el("button", status.paused ? labels.unpause : labels.pause);
    button.type = "button";
    button.addEventListener("click", function () { send({action: status.paused ? "unpause" : "pause", reason: ""}); });
    statusBox.appendChild(document.createTextNode(" "));
    statusBox.appendChild(button);
  }

  function line(chat, m) {
    var item = el("li", null, "from-" + m.sender);
    item.appendChild(el("strong", (m.author || (m.sender === "visitor" ? chat.visitor || labels.visitor : "")) + ": "));
    item.appendChild(el("span", m.body, "body"));
    chat.lines.appendChild(item);
    chat.lines.scrollTop = chat.lines.scrollHeight;
  }

  function openChat(data) {
    var uuid = data.conversation;
    if (chats[uuid]) { return chats[uuid]; }
    var box = el("section", null, "card chat");
    box.setAttribute("data-conversation", uuid);
    var head = el("h2", data.visitor || labels.visitor);
    if (data.verified) { head.appendChild(el("span", " (" + labels.verified + ")", "verified")); }
    box.appendChild(head);
    if (data.page) { box.appendChild(el("p", labels.page + ": " + data.page, "help")); }
    var chat = {uuid: uuid, visitor: data.visitor, box: box, lines: el("ol", null, "transcript"),
                typing: el("p", "", "typing")};
    chat.typing.setAttribute("aria-live", "polite");
    box.appendChild(chat.lines);
    box.appendChild(chat.typing);
    (data.messages || []).forEach(function (m) { line(chat, m); });
    var form = el("form", null, "chat-send");
    var input = el("textarea");
    input.rows = 2;
    input.setAttribute("aria-label", labels.message);
    var picker = el("select");
    picker.setAttribute("aria-label", labels.canned);
    picker.appendChild(el("option", labels.canned));
    canned.forEach(function (c, i) {
      var option = el("option", c.title + (c.shortcut ? " (/" + c.shortcut + ")" : ""));
      option.value = String(i);
      picker.appendChild(option);
    });
    picker.addEventListener("change", function () {
      if (picker.value !== "" && canned[+picker.value]) { input.value = canned[+picker.value].body; input.focus(); }
      picker.selectedIndex = 0;
    });
    var typed = 0;
    input.addEventListener("input", function () {
      if (Date.now() - typed > 2000) { typed = Date.now(); send({action: "typing", conversation: uuid}); }
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : submit(); }
    });
    function submit() {
      if (input.value.trim()) { send({action: "send", conversation: uuid, body: input.value}); input.value = ""; }
    }
    form.addEventListener("submit", function (e) { e.preventDefault(); submit(); });
    var sendButton = el("button", labels.send, "primary");
    sendButton.type = "submit";
    [input, picker, sendButton].forEach(function (n) { form.appendChild(n); });
    box.appendChild(form);
    var actions = el("div", null, "actions");
    var target = el("select");
    target.setAttribute("aria-label", labels.transfer);
    target.appendChild(el("option", labels.transfer));
    agents.forEach(function (a) { var o = el("option", labels.to_agent + ": " + a[0] + " " + (a[1] || "")); o.value = "a" + a[0]; target.appendChild(o); });
    queues.forEach(function (q) { var o = el("option", labels.to_queue + ": " + q[1]); o.value = "q" + q[0]; target.appendChild(o); });
    target.addEventListener("change", function () {
      var v = target.value;
      if (v.charAt(0) === "a") { send({action: "transfer", conversation: uuid, agent: v.slice(1)}); }
      if (v.charAt(0) === "q") { send({action: "transfer", conversation: uuid, queue: v.slice(1)}); }
      target.selectedIndex = 0;
    });
    var close = el("button", labels.close);
    close.type = "button";
    close.addEventListener("click", function () { send({action: "close", conversation: uuid}); });
    actions.appendChild(target);
    actions.appendChild(close);
    box.appendChild(actions);
    tabs.appendChild(box);
    chats[uuid] = chat;
    return chat;
  }

  function dropChat(uuid, why) {
    var chat = chats[uuid];
    if (!chat) { return; }
    chat.box.appendChild(el("p", why, "help"));
    chat.box.querySelectorAll("textarea, button, select").forEach(function (n) { n.disabled = true; });
    delete chats[uuid];
    setTimeout(function () { if (chat.box.parentNode) { chat.box.parentNode.removeChild(chat.box); } }, 5000);
  }

  function offer(event) {
    var id = "offer-" + event.conversation;
    if (document.getElementById(id)) { return; }
    var box = el("div", null, "card offer");
    box.id = id;
    box.appendChild(el("strong", labels.offer + ": " + (event.visitor || labels.visitor) + (event.verified ? " (" + labels.verified + ")" : "")));
    if (event.queue) { box.appendChild(el("span", " · " + event.queue)); }
    if (event.first) { box.appendChild(el("p", event.first)); }
    var accept = el("button", labels.accept, "primary");
    accept.type = "button";
    accept.addEventListener("click", function () { send({action: "accept", conversation: event.conversation}); });
    box.appendChild(accept);
    offersBox.appendChild(box);
  }

  function unoffer(uuid) {
    var box = document.getElementById("offer-" + uuid);
    if (box) { box.parentNode.removeChild(box); }
  }

  function handle(message) {
    if (message.type === "chat.snapshot") {
      canned = message.canned || []; agents = message.agents || []; queues = message.queues || [];
      status = message.status || {};
      if (serverList) { serverList.parentNode.removeChild(serverList); serverList = null; }
      drawStatus();
      (message.chats || []).forEach(openChat);
    } else if (message.type === "chat.status") {
      status = message.status; drawStatus();
    } else if (message.type === "chat.open") {
      unoffer(message.chat.conversation);
      openChat(message.chat);
      send({action: "status"});
    } else if (message.type === "error") {
      var where = chats[message.conversation] ? chats[message.conversation].box : statusBox;
      var note = el("p", message.message, "error");
      note.setAttribute("role", "alert");
      where.appendChild(note);
      setTimeout(function () { if (note.parentNode) { note.parentNode.removeChild(note); } }, 6000);
    } else if (message.type === "chat.event") {
      var event = message.event, chat = chats[event.conversation];
      if (event.kind === "offer") { offer(event); }
      else if (event.kind === "withdrawn") { unoffer(event.conversation); }
      else if (event.kind === "message" && chat) { chat.typing.textContent = ""; line(chat, event); }
      else if (event.kind === "typing" && chat && event.sender !== "agent") {
        clearTimeout(chat.typingOff);  // (the visitor's widget says when it stops: "on" false)
        chat.typing.textContent = event.on === false ? "" : (chat.visitor || labels.visitor) + " " + labels.typing;
        if (event.on !== false) { chat.typingOff = setTimeout(function () { chat.typing.textContent = ""; }, 4000); }
      }
      else if ((event.kind === "closed" || event.kind === "gone") && chat) { dropChat(event.conversation, labels.closed); send({action: "status"}); }
      else if (event.kind === "joined" && chat) { chat.box.appendChild(el("p", event.agent, "help")); }
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/chat/");
    socket.addEventListener("message", function (e) { handle(JSON.parse(e.data)); });
    socket.addEventListener("open", function () { live.setAttribute("data-state", "live"); });
    socket.addEventListener("close", function () {
      live.setAttribute("data-state", "lost");
      statusBox.appendChild(el("p", labels.lost, "error"));
    });
  }
  connect();
})();
