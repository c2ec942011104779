// The tenant console's script. Everything works without it: it adds copy buttons and live
// updates (a Server-Sent Events stream that says when something shown changed; the page's
// content is then fetched again and swapped in by htmx, unless someone is typing in a form).
(function () {
  "use strict";

  function copyFrom(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done);
    } else {
      field.select();
      document.execCommand("copy");
      done();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (button) {
      event.preventDefault();
      copyFrom(button);
    }
  });

  function typing() {
    var active = document.activeElement;
    return active && active.form && active.type !== "submit";
  }

  var pending = false;
  function refresh() {
    var content = document.getElementById("content");
    if (!content || !window.htmx) return;
    if (typing()) { pending = true; return; }
    pending = false;
    window.htmx.ajax("GET", window.location.href, { target: "#content", select: "#content", swap: "outerHTML" });
  }
  document.addEventListener("focusout", function () { if (pending) setTimeout(refresh, 200); });

  function listen() {
    var body = document.body;
    var url = body.getAttribute("data-live");
    if (!url || !window.EventSource) return;
    var say = function (text) {
      var status = document.getElementById("live-status");
      if (status) status.textContent = text;
    };
    var source = new EventSource(url);
    source.addEventListener("open", function () {
      say("Live: changes appear as they happen");
    });
    source.addEventListener("changed", function (event) {
      body.setAttribute("data-version", event.data);
      refresh();
    });
    source.addEventListener("error", function () {
      say("Live updates paused; reconnecting");
    });
    // A boosted navigation or a refresh swaps the page: say again that it is live.
    document.body.addEventListener("htmx:afterSwap", function () {
      if (source.readyState === 1) say("Live: changes appear as they happen");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", listen);
  } else {
    listen();
  }
})();
