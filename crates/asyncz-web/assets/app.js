// asyncz dashboard: optional live updates. Pages work without this script.
(function () {
  "use strict";
  // The viewer's zone, for the server to show times in (a cookie the pages read).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("asyncz_tz=") < 0) {
      document.cookie = "asyncz_tz=" + encodeURIComponent(zone) + "; path=/; SameSite=Strict; max-age=31536000";
    }
  } catch (e) { /* no Intl: the scheduler's zone is used */ }

  var body = document.body;
  if (!body || body.getAttribute("data-live") !== "true" || !window.EventSource) return;
  var base = body.getAttribute("data-base") || "";
  var pending = null;
  function refresh() {
    pending = null;
    // Re-render the page's main content from the server; keep focus and form state alone
    // while the user is typing in a form.
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "SELECT" || active.tagName === "TEXTAREA")) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main) { main.innerHTML = fresh.innerHTML; }
        watchActive();
      })
      .catch(function () { watchActive(); });
  }
  // A run still waiting or running reaches its outcome in the ledger a moment after the
  // node's last event (the ledger writer batches): while the page shows one, look again.
  function watchActive() {
    if (document.querySelector("#main .run.requested, #main .run.submitted, #main .run.running")) {
      setTimeout(soon, 1500);
    }
  }
  function soon() {
    if (pending) return;
    pending = setTimeout(refresh, 400);
    // The ledger records a run's outcome just after the job's event: look again shortly.
    setTimeout(function () { if (!pending) pending = setTimeout(refresh, 0); }, 2000);
  }
  var names = ["TASK_EXECUTED", "TASK_ERROR", "TASK_MISSED", "TASK_SUBMITTED", "TASK_ADDED",
               "TASK_REMOVED", "TASK_MODIFIED", "TASK_MAX_INSTANCES", "ALL_TASKS_REMOVED",
               "NODE_JOINED", "NODE_DEAD", "RUN_ABANDONED", "CLAIM_LOST"];
  var source = null;
  function connect() {
    source = new EventSource(base + "/api/v1/events", { withCredentials: true });
    names.forEach(function (name) { source.addEventListener(name, soon); });
  }
  connect();
  // Close the stream when leaving the page: a browser holds at most six connections to a
  // server over HTTP/1.1, and a stream it keeps for a page being left would hold one of them.
  // A page brought back from the back/forward cache opens it again and looks once.
  window.addEventListener("pagehide", function () { if (source) { source.close(); } });
  window.addEventListener("pageshow", function (e) { if (e.persisted) { connect(); soon(); } });
  // A server acting on a store alone sees no events of the nodes: poll pages that show runs.
  if (document.getElementById("live-runs")) { setInterval(soon, 5000); }
  watchActive();
})();
