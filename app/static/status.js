// Renders /health; a 503 from /health is still a report, so its body is shown, not thrown.
(function () {
  "use strict";
  function $(id) { return document.getElementById(id); }
  function check(el, c) { el.textContent = c.ok ? "up " + c.latency_ms + " ms" : "down (" + c.error + ")"; el.className = "num " + (c.ok ? "ok" : "bad"); }
  function row(table, cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (t) { var td = document.createElement("td"); td.textContent = t; tr.appendChild(td); });
    table.tBodies[0].appendChild(tr);
  }
  function render(h) {
    $("overall").textContent = h.status; $("overall").className = h.status === "ok" ? "ok" : "bad";
    check($("database"), h.database); check($("redis"), h.redis);
    $("queues").tBodies[0].textContent = "";
    Object.keys(h.queues).forEach(function (q) {
      var info = h.queues[q];
      row($("queues"), [q, info.depth === null ? "unknown" + (info.depth_error ? " (" + info.depth_error + ")" : "") : String(info.depth),
                        info.workers.length ? info.workers.join(", ") : "none"]);
    });
    $("backends").tBodies[0].textContent = "";
    Object.keys(h.backends).forEach(function (b) {
      Object.keys(h.backends[b]).forEach(function (task) {
        var state = h.backends[b][task];
        row($("backends"), [b, task, state === true ? "ready" : String(state)]);
      });
    });
    $("checked").textContent = "Checked " + new Date().toLocaleTimeString() + ".";
  }
  function refresh() { fetch("/health").then(function (r) { return r.json(); }).then(render).catch(function (e) { $("overall").textContent = "unreachable"; }); }
  refresh();
  setInterval(refresh, 10000);
})();
