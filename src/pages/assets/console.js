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

  // The availability timeline: click a free night of a property, then the last night to block
  // (the same one again for one night): the block form opens with the property and the dates
  // filled in. Escape, or a click elsewhere in another row, starts over. The pick is kept by its
  // row's block link and its night, so a live refresh of the page between the two clicks keeps
  // it (the refreshed timeline's cell is marked again).
  var picked = null;
  function dayOf(cell) {
    var head = cell.closest("table").tHead.rows[0].cells[cell.cellIndex];
    return head && head.getAttribute("data-day");
  }
  function dayAfter(day) {
    var next = new Date(day + "T00:00:00Z");
    next.setUTCDate(next.getUTCDate() + 1);
    return next.toISOString().slice(0, 10);
  }
  function hint(text) {
    var hint = document.getElementById("timeline-hint");
    if (hint) hint.textContent = text;
  }
  function pickedCell() {
    if (!picked) return null;
    var rows = document.querySelectorAll("tr[data-block]");
    for (var r = 0; r < rows.length; r++) {
      if (rows[r].getAttribute("data-block") !== picked.block) continue;
      for (var c = 0; c < rows[r].cells.length; c++) {
        if (rows[r].cells[c].matches("td.cell") && dayOf(rows[r].cells[c]) === picked.day) {
          return rows[r].cells[c];
        }
      }
    }
    return null;
  }
  function markPicked() {
    var cell = pickedCell();
    if (!cell) {
      picked = null;
      return;
    }
    cell.classList.add("picked");
    hint("From the night of " + picked.day + " at " + cell.parentElement.cells[0].textContent.trim() +
      ": now click the last night to block (Escape to start over).");
  }
  function unpick() {
    var cell = pickedCell();
    if (cell) cell.classList.remove("picked");
    picked = null;
  }
  function pickNight(cell) {
    var block = cell.parentElement.getAttribute("data-block");
    var day = dayOf(cell);
    if (!day) return;
    if (!picked || picked.block !== block || day < picked.day) {
      unpick();
      picked = { block: block, day: day };
      markPicked();
      return;
    }
    window.location.href = block + "&start_date=" + picked.day + "&end_date=" + dayAfter(day);
  }
  document.addEventListener("click", function (event) {
    var cell = event.target.closest("tr[data-block] td.cell");
    // A busy night is not free to block; a conflict's cell is a link of its own.
    if (cell && cell.classList.length === 1 || cell && cell.classList.contains("picked")) {
      pickNight(cell);
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && picked) {
      unpick();
      hint("To block dates, click a free night of a property, then the last night to block.");
    }
  });
  function showHint() {
    var hint = document.querySelector("[data-timeline-hint]");
    if (hint) hint.hidden = false;
  }
  // A live refresh (or a move to another page) swaps the content: the pick stays while its
  // night is still on the page.
  document.addEventListener("htmx:afterSwap", function () { showHint(); markPicked(); });

  function typing() {
    var active = document.activeElement;
    return active && active.form && active.type !== "submit";
  }

  // Whether a request the person made (a form sent, a link followed) is on its way: its answer
  // is the page to show. A refresh landing first would take the form away, and htmx then drops
  // the form's answer, its notice ("The conflict is resolved") with it.
  function busy() {
    return document.querySelector(".htmx-request:not(body)") !== null;
  }

  var pending = false;
  // The address a refresh was asked for, until its answer arrives.
  var refreshing = null;
  function refresh() {
    var content = document.getElementById("content");
    if (!content || !window.htmx) return;
    if (typing() || busy()) { pending = true; return; }
    pending = false;
    refreshing = window.location.href;
    window.htmx.ajax("GET", refreshing, { target: "#content", select: "#content", swap: "outerHTML" });
  }
  // A refresh overtaken by a navigation (a link followed meanwhile) would put the page that was
  // left back over the new one, and one answered while a form is on its way would take the form
  // away: its answer is dropped (and asked again once the form's answer is in).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail.requestConfig;
    if (refreshing && config && config.path === refreshing) {
      if (window.location.href !== refreshing) event.detail.shouldSwap = false;
      if (busy()) { event.detail.shouldSwap = false; pending = true; }
      refreshing = null;
    }
  });
  document.addEventListener("focusout", function () { if (pending) setTimeout(refresh, 200); });
  document.addEventListener("htmx:afterRequest", function () {
    if (pending) setTimeout(refresh, 200);
  });

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

  function start() {
    listen();
    showHint();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
