/* The calls page, live: each call event carries the call as it is now (who is on each side, held,
   parked, supervised: telephony/engine/calls.py Call.summary), and its row is updated in place; a
   call that starts or ends changes the lists, so the page is reloaded. The page works without it. */
(function () {
  "use strict";
  if (!window.WebSocket) { return; }

  function party(number, name) { return ((number || "—") + " " + (name || "")).trim(); }

  function state(call) {
    var text;
    if (call.state === "parked") { text = "parked in slot " + call.park_slot; }
    else if (call.held) { text = "on hold (" + call.held + " hears music)"; }
    else if (call.state === "answered") { text = "talking"; }
    else { text = "ringing"; }
    (call.supervisors || []).forEach(function (s) { text += "; " + s.mode + ": " + s.number; });
    return text;
  }

  function show(call) {
    var row = document.querySelector('tr[data-call="' + call.id + '"]');
    if (!row) { return false; }
    row.querySelector(".caller").textContent = party(call.caller, call.caller_name);
    var callee = party(call.callee, call.callee_name);
    if (call.dialled && call.callee !== call.dialled) { callee += " (dialled " + call.dialled + ")"; }
    row.querySelector(".callee").textContent = callee;
    row.querySelector(".state").textContent = state(call);
    return true;
  }

  var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/events/");
  socket.onmessage = function (message) {
    var event = JSON.parse(message.data);
    if (!event.type || event.type.indexOf("call.") !== 0) { return; }
    // Park and retrieve change which actions a row offers: those, like a new or ended call, reload.
    var redraw = ["call.ended", "call.parked", "call.retrieved", "call.answered"].indexOf(event.type) >= 0;
    if (redraw || !event.call || !show(event.call)) { location.reload(); }
  };
})();
