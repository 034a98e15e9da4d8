// Click-to-call widget for a client's own web site (telephony/widgets.py). Embedded with one tag:
//   <script src="https://<the client's portal host>/static/clicktocall.js" data-ocx-widget="<key>" async></script>
// It draws a small form where the tag stands (or in the element named by data-ocx-target): the visitor
// types their number, the platform rings the company, then calls the visitor back. No framework.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var key = script.getAttribute("data-ocx-widget") || "";
  var base = new URL(script.src, document.baseURI).origin;
  var label = script.getAttribute("data-ocx-label") || "Call me back";
  var box = document.createElement("form");
  box.className = "ocx-clicktocall";
  var input = document.createElement("input");
  input.type = "tel";
  input.name = "number";
  input.required = true;
  input.autocomplete = "tel";
  input.placeholder = script.getAttribute("data-ocx-placeholder") || "Your phone number";
  input.setAttribute("aria-label", input.placeholder);
  var button = document.createElement("button");
  button.type = "submit";
  button.textContent = label;
  var status = document.createElement("p");
  status.className = "ocx-clicktocall-status";
  status.setAttribute("role", "status");
  box.appendChild(input);
  box.appendChild(button);
  box.appendChild(status);
  var target = script.getAttribute("data-ocx-target");
  var place = target && document.getElementById(target);
  if (place) place.appendChild(box);
  else script.parentNode.insertBefore(box, script);

  box.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    status.textContent = "Calling\u2026";
    fetch(base + "/c2c/" + encodeURIComponent(key) + "/call/", {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ number: input.value }),
    })
      .then(function (response) {
        return response.json().then(
          function (body) { return { ok: response.ok, body: body }; },
          function () { return { ok: false, body: {} }; }
        );
      })
      .then(function (answer) {
        box.setAttribute("data-ocx-result", answer.ok ? "calling" : answer.body.code || "error");
        status.textContent = answer.ok
          ? "We are calling you now."
          : answer.body.detail || "The call could not be placed.";
      })
      .catch(function () {
        box.setAttribute("data-ocx-result", "error");
        status.textContent = "The call could not be placed.";
      })
      .then(function () { button.disabled = false; });
  });
})();
