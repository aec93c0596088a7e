// The dashboard calls the JSON API with the key kept in sessionStorage (never in a URL).
(function () {
  "use strict";
  var STORE = "gpubridge.api_key";
  var paths = {};
  var cursor = null;
  function $(id) { return document.getElementById(id); }
  function key() { return sessionStorage.getItem(STORE); }
  function say(text, bad) { $("message").textContent = text; $("message").className = bad ? "bad" : "muted"; }
  function usd(value) { return value === null || value === undefined ? "—" : "$" + String(value); }

  function api(path, options) {
    options = options || {};
    options.headers = Object.assign({"Authorization": "Bearer " + key()}, options.headers || {});
    return fetch(path, options).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error + (body.hint ? " " + body.hint : "")); }
        return body;
      });
    });
  }

  function cell(row, text) { var td = document.createElement("td"); td.textContent = text; row.appendChild(td); }

  function showBalance(b) {
    $("balance").textContent = usd(b.balance);
    $("held").textContent = usd(b.held);
    $("daily-spend").textContent = usd(b.daily_spend);
    $("daily-limit").textContent = usd(b.daily_limit);
    var tier = b.volume_discount;
    $("discount").textContent = tier ? tier.tier + " (" + tier.discount_percent + "%)" : "none";
  }

  function showJobs(page, append) {
    var body = $("jobs").tBodies[0];
    if (!append) { body.textContent = ""; }
    page.jobs.forEach(function (j) {
      var row = document.createElement("tr");
      row.className = "job";
      [j.created_at.replace("T", " ").slice(0, 19), j.job_id.slice(0, 8), j.service, j.status,
       usd(j.estimated_cost_usd), usd(j.cost_usd), usd(j.refund_amount_usd)].forEach(function (t) { cell(row, t); });
      body.appendChild(row);
    });
    cursor = page.next_cursor;
    $("more").classList.toggle("hidden", !cursor);
  }

  function showDeliveries(page) {
    var body = $("deliveries").tBodies[0];
    body.textContent = "";
    (page.deliveries || []).forEach(function (d) {
      var attempts = d.attempts || [];
      var last = attempts.length ? attempts[attempts.length - 1] : {};
      var row = document.createElement("tr");
      [(d.created_at || "").replace("T", " ").slice(0, 19), String(d.job_id || "").slice(0, 8),
       d.event_type || "", d.status || "",
       attempts.length + (last.status_code ? " (last " + last.status_code + ", " + last.latency_ms + " ms)" : ""),
       last.error || ""].forEach(function (t) { cell(row, t); });
      body.appendChild(row);
    });
    $("deliveries-section").classList.remove("hidden");
  }

  function load() {
    if (!key()) { $("account").classList.add("hidden"); return; }
    say("Loading…");
    Promise.all([api("/account/balance"), api("/account/jobs?limit=20")]).then(function (r) {
      showBalance(r[0]); showJobs(r[1], false);
      $("account").classList.remove("hidden");
      say("Signed in with key " + key().slice(0, 12) + "…");
      if (paths["/account/webhooks/deliveries"]) { api("/account/webhooks/deliveries").then(showDeliveries).catch(function () {}); }
    }).catch(function (err) { say(err.message, true); $("account").classList.add("hidden"); });
  }

  function topUp(amount) {
    if (!paths["/account/topup"]) { $("topup-note").textContent = "Card top-up is not enabled on this server; ask the operator for credit."; return; }
    api("/account/topup", {method: "POST", headers: {"Content-Type": "application/json"},
                           body: JSON.stringify({amount_usd: amount})}).then(function (r) {
      var url = r.checkout_url || r.url;
      if (url) { window.location.assign(url); } else { $("topup-note").textContent = "Top-up requested."; }
    }).catch(function (err) { $("topup-note").textContent = err.message; });
  }

  $("key-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var value = $("api-key").value.trim();
    if (value) { sessionStorage.setItem(STORE, value); $("api-key").value = ""; }
    load();
  });
  $("forget").addEventListener("click", function () { sessionStorage.removeItem(STORE); say("Key forgotten."); load(); });
  $("more").addEventListener("click", function () { api("/account/jobs?limit=20&cursor=" + encodeURIComponent(cursor)).then(function (p) { showJobs(p, true); }); });
  document.querySelectorAll("button.topup").forEach(function (b) { b.addEventListener("click", function () { topUp(Number(b.dataset.amount)); }); });
  // Which optional endpoints this server has (top-up, webhook log), from its own OpenAPI.
  fetch("/openapi.json").then(function (r) { return r.json(); }).then(function (spec) { paths = spec.paths || {}; })
    .catch(function () {}).then(load);
})();
