// Web chat widget for a client's own web site (chat/visitor_consumers.py has the protocol). One tag:
//   <script src="https://<the client's portal host>/static/chat_widget.js" data-key="<key>" async></script>
// (optional data-identity='{"ref":..,"name":..,"email":..,"expires":..,"signature":..}', signed by the site).
// It draws a launcher and a panel in a Shadow DOM (the page's styles and ours never meet), talks over a
// WebSocket and falls back to HTTP long-polling when the socket cannot open. Messages are text only
// (textContent). Nothing shows when the page's origin is not one of the widget's. No framework.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.fetch) return;
  var key = script.getAttribute("data-key") || "";
  var base = new URL(script.src, document.baseURI);
  var api = base.origin + "/chat/api/" + encodeURIComponent(key);
  var wsUrl = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/chat/ws/" + encodeURIComponent(key) + "/";
  var store = "ocx-chat:" + key;
  var identity = null;
  try { identity = JSON.parse(script.getAttribute("data-identity") || "null"); } catch (e) { identity = null; }
  var secret = null;
  try { secret = localStorage.getItem(store); } catch (e) { secret = null; }
  var ws = null, polling = false, cursor = 0, conv = null, info = null, typingSent = 0, typingOff = null, host, root;
  var typingShown = null;  // the agent's "Typing…" goes after a while without news (their console says "on" only)
  var words = {};  // the widget's own words in the visitor's language (the welcome's "texts"); English until then
  var lang = (navigator.language || "").slice(0, 35);
  function t(name, english, fill) {
    var text = words[name] || english;
    for (var k in fill || {}) text = text.split("{" + k + "}").join(fill[k]);
    return text;
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text) node.textContent = text;
    return node;
  }
  function field(label, input) {
    var wrap = el("label", {}, label);
    wrap.appendChild(input);
    return wrap;
  }

  var CSS = ":host{all:initial}*{box-sizing:border-box;font:14px/1.4 system-ui,sans-serif}" +
    ".launch{position:fixed;right:16px;bottom:16px;z-index:2147483000;border:0;border-radius:24px;padding:12px 18px;color:#fff;background:var(--c);cursor:pointer;box-shadow:0 2px 8px #0004}" +
    ".panel{position:fixed;right:16px;bottom:16px;z-index:2147483001;width:360px;max-width:calc(100vw - 32px);height:520px;max-height:calc(100vh - 32px);display:flex;flex-direction:column;background:#fff;color:#222;border-radius:10px;box-shadow:0 4px 24px #0005;overflow:hidden}" +
    ".panel[hidden],[hidden]{display:none}header{display:flex;align-items:center;gap:8px;padding:10px 12px;background:var(--c);color:#fff}" +
    "h2{flex:1;margin:0;font-size:16px;font-weight:600}header button{background:transparent;color:#fff;border:1px solid #fff8;border-radius:4px;padding:4px 8px;cursor:pointer}" +
    ".status{padding:6px 12px;color:#444;background:#f3f3f3;min-height:1.4em}.error{color:#a00;padding:0 12px}" +
    ".log{flex:1;overflow-y:auto;padding:8px 12px}.log p{margin:6px 0;padding:6px 10px;border-radius:8px;background:#eee;white-space:pre-wrap;overflow-wrap:anywhere;max-width:85%}" +
    ".log p.visitor{margin-left:auto;background:var(--c);color:#fff}.log p.system{background:transparent;color:#666;font-style:italic;text-align:center;max-width:none}" +
    ".log p b{display:block;font-size:12px}form{display:flex;flex-direction:column;gap:6px;padding:8px 12px}" +
    "label{display:flex;flex-direction:column;gap:2px;color:#333}input,textarea{border:1px solid #999;border-radius:4px;padding:6px;color:#222;background:#fff}" +
    "textarea{resize:vertical;min-height:3em}form button{border:0;border-radius:4px;padding:8px;color:#fff;background:var(--c);cursor:pointer}" +
    ":focus-visible{outline:3px solid #1a73e8;outline-offset:1px}.row{display:flex;gap:6px}.row input{flex:1}";

  function build(welcome) {
    host = el("div", { "data-ocx-chat": key });
    root = host.attachShadow({ mode: "open" });
    var style = el("style");
    style.textContent = CSS;
    root.appendChild(style);
    host.style.setProperty("--c", /^#[0-9a-fA-F]{6}$/.test(welcome.colour) ? welcome.colour : "#1f4e79");
    var title = welcome.title || t("chat", "Chat");
    var launch = el("button", { "class": "launch", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false" }, title);
    var panel = el("div", { "class": "panel", role: "dialog", "aria-label": title, hidden: "" });
    var head = el("header");
    head.appendChild(el("h2", {}, title));
    var end = el("button", { type: "button", hidden: "" }, t("end", "End chat"));
    var shut = el("button", { type: "button", "aria-label": t("close", "Close the chat window") }, "\u00d7");
    head.appendChild(end);
    head.appendChild(shut);
    var status = el("div", { "class": "status", role: "status" }, welcome.greeting || "");
    var error = el("div", { "class": "error", role: "alert" });
    var log = el("div", { "class": "log", role: "log", "aria-live": "polite", "aria-label": t("messages", "Messages") });

    function form(cls, fields, button) {
      var f = el("form", { "class": cls, novalidate: "" });
      fields.forEach(function (x) { f.appendChild(x); });
      f.appendChild(el("button", { type: "submit" }, button));
      return f;
    }
    function named(n, type, auto) { return el("input", { name: n, type: type, autocomplete: auto, maxlength: "254" }); }
    var start = form("start", [field(t("name", "Your name"), named("name", "text", "name")),
      field(t("email_optional", "Your e-mail (optional)"), named("email", "email", "email")),
      field(t("message", "Message"), el("textarea", { name: "text", required: "" }))], t("start", "Start chat"));
    var offline = form("offline", [el("p", {}, t("offline", "Nobody is available now: leave a message and we will answer by e-mail.")),
      field(t("name", "Your name"), named("name", "text", "name")), field(t("email", "Your e-mail"), named("email", "email", "email")),
      field(t("message", "Message"), el("textarea", { name: "text", required: "" }))], t("send_message", "Send message"));
    var compose = form("compose", [field(t("your_message", "Your message"), el("textarea", { name: "text", rows: "2" }))], t("send", "Send"));
    var transcript = form("transcript", [field(t("transcript", "E-mail me this chat"), named("email", "email", "email"))],
      t("send_transcript", "Send transcript"));
    [start, offline, compose, transcript].forEach(function (f) { f.hidden = true; });
    [head, status, error, log, start, offline, compose, transcript].forEach(function (x) { panel.appendChild(x); });
    root.appendChild(launch);
    root.appendChild(panel);
    document.body.appendChild(host);

    function values(f) {
      var out = {};
      Array.prototype.forEach.call(f.elements, function (x) { if (x.name) out[x.name] = x.value; });
      return out;
    }
    function toggle(open) {
      panel.hidden = !open;
      launch.hidden = open;
      launch.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) {
        var first = panel.querySelector("form:not([hidden]) input, form:not([hidden]) textarea");
        (first || shut).focus();
      } else launch.focus();
    }
    launch.addEventListener("click", function () { toggle(true); });
    shut.addEventListener("click", function () { toggle(false); });
    panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { e.preventDefault(); toggle(false); } });
    end.addEventListener("click", function () { send({ type: "close" }); });
    start.addEventListener("submit", function (e) {
      e.preventDefault();
      var v = values(start);
      send({ type: "start", name: v.name, email: v.email, text: v.text });
    });
    offline.addEventListener("submit", function (e) {
      e.preventDefault();
      var v = values(offline);
      send({ type: "offline", name: v.name, email: v.email, text: v.text });
    });
    var box = compose.elements.text;
    compose.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!box.value.trim()) return;
      send({ type: "message", text: box.value });
      box.value = "";
      typing(false);
    });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); compose.requestSubmit(); }
    });
    box.addEventListener("input", function () { typing(true); });
    transcript.addEventListener("submit", function (e) {
      e.preventDefault();
      send({ type: "transcript", email: values(transcript).email });
    });
    return { launch: launch, panel: panel, status: status, error: error, log: log, start: start, offline: offline,
      compose: compose, transcript: transcript, end: end };
  }

  function typing(on) {
    var now = Date.now();
    clearTimeout(typingOff);
    if (on) {
      if (now - typingSent > 2500) { typingSent = now; send({ type: "typing", on: true }); }
      typingOff = setTimeout(function () { typing(false); }, 3000);
    } else if (typingSent) { typingSent = 0; send({ type: "typing", on: false }); }
  }

  function agentTyping(on) {
    clearTimeout(typingShown);
    typingShown = on ? setTimeout(function () { agentTyping(false); }, 4000) : null;
    info.status.textContent = on ? t("typing", "Typing\u2026") : (conv && conv.agent ? t("answering", "{agent} is answering you.", { agent: conv.agent }) : "");
  }

  function show(view) {
    info.start.hidden = view !== "start";
    info.offline.hidden = view !== "offline";
    info.compose.hidden = view !== "chat";
    info.transcript.hidden = !(view === "chat" || view === "ended") || !conv;
    info.end.hidden = view !== "chat";
    host.setAttribute("data-view", view);
  }

  function say(m) {
    var p = el("p", { "class": m.sender });
    if (m.sender === "agent" && m.author) p.appendChild(el("b", {}, m.author));
    p.appendChild(document.createTextNode(m.body));
    info.log.appendChild(p);
    info.log.scrollTop = info.log.scrollHeight;
    if (typeof m.id === "number" && m.id > cursor) cursor = m.id;
  }

  function state(c) {
    conv = c;
    if (!c) return;
    if (c.state === "closed") { info.status.textContent = t("ended", "The chat has ended."); show("ended"); return; }
    show("chat");
    if (c.state === "active" && c.agent) info.status.textContent = t("answering", "{agent} is answering you.", { agent: c.agent });
    else if (c.position) info.status.textContent = t("position", "You are number {n} in line.", { n: c.position });
  }

  function handle(e) {
    if (!e || !e.kind) return;
    if (e.kind === "welcome") {
      secret = e.visitor;
      try { localStorage.setItem(store, secret); } catch (x) { /* private mode: a new visitor each visit */ }
      words = e.texts || words;
      if (!info) info = build(e);
      info.log.textContent = "";
      (e.history || []).forEach(say);
      if (e.conversation) state(e.conversation);
      else show(e.online ? "start" : "offline");
      host.setAttribute("data-online", e.online ? "yes" : "no");
      if (conv && !ws) poll();
      return;
    }
    if (!info) return;
    info.error.textContent = "";
    if (e.kind === "started") {
      info.log.textContent = "";
      (e.history || []).forEach(say);
      info.start.reset();
      state(e.conversation);
      info.compose.elements.text.focus();
      if (!ws) poll();
    } else if (e.kind === "message") {
      if (!(typeof e.id === "number" && e.id <= cursor)) say(e);
      if (e.sender === "agent" && typingShown) agentTyping(false);
    } else if (e.kind === "typing" && e.sender !== "visitor") {
      agentTyping(!!e.on);
    } else if (e.kind === "position") {
      if (conv) { conv.position = e.position; state(conv); }
    } else if (e.kind === "joined") {
      if (conv) { conv.state = "active"; conv.agent = e.agent || e.name || ""; state(conv); }
    } else if (e.kind === "transferred") {
      info.status.textContent = t("passed", "Your chat is passed to a colleague.");
    } else if (e.kind === "closed") {
      if (conv) { conv.state = "closed"; state(conv); }
    } else if (e.kind === "offline") {
      info.offline.reset();
      info.offline.hidden = true;
      info.status.textContent = t("sent", "Thank you: your message was sent.");
      host.setAttribute("data-view", "sent");
    } else if (e.kind === "transcript") {
      info.status.textContent = t("transcript_sent", "The transcript is on its way to {email}.", { email: e.email });
    } else if (e.kind === "error") {
      info.error.textContent = e.message || t("error", "Something went wrong.");
      if (e.code === "offline") show("offline");
    }
  }

  function post(cmd) {
    cmd.visitor = secret || undefined;
    cmd.language = lang || undefined;  // (each request is a session of its own)
    if (conv) cmd.conversation = conv.id;
    return fetch(api + "/send", { method: "POST", mode: "cors", credentials: "omit",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(cmd) })
      .then(function (r) { return r.ok || r.status === 400 ? r.json() : { events: [] }; })
      .then(function (a) { (a.events || []).forEach(handle); })
      .catch(function () { if (info) info.error.textContent = t("unreachable", "The chat cannot be reached now."); });
  }

  function send(cmd) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(cmd));
    else post(cmd);
  }

  function poll() {
    if (polling || !secret || !conv || conv.state === "closed") return;
    polling = true;
    var url = api + "/events?visitor=" + encodeURIComponent(secret) + "&after=" + cursor + "&conversation=" + encodeURIComponent(conv.id);
    fetch(url, { mode: "cors", credentials: "omit" })
      .then(function (r) { return r.json(); })
      .then(function (a) {
        polling = false;
        if (a.conversation && conv) {
          if (a.conversation.state !== conv.state || a.conversation.agent !== conv.agent) state(a.conversation);
        }
        (a.events || []).forEach(handle);
        poll();
      })
      .catch(function () { polling = false; setTimeout(poll, 3000); });
  }

  function hello() {
    return { type: "hello", visitor: secret || undefined, page: location.href.slice(0, 500), identity: identity || undefined,
      language: lang || undefined };
  }

  function open(retry) {
    var opened = false;
    try { ws = new WebSocket(wsUrl); } catch (e) { ws = null; post(hello()); return; }
    ws.onopen = function () { opened = true; ws.send(JSON.stringify(hello())); };
    ws.onmessage = function (m) { try { handle(JSON.parse(m.data)); } catch (e) { /* not ours */ } };
    ws.onclose = function () {
      ws = null;
      if (!opened) { if (!retry) post(hello()); else if (conv) poll(); }  // blocked: the HTTP fallback
      else setTimeout(function () { open(true); }, 2000);  // dropped: come back (hello again)
    };
  }

  if (document.body) open(false);
  else document.addEventListener("DOMContentLoaded", function () { open(false); });
})();
