/* 技能码 landing page: large-text toggle, phone location (WGS84 from the browser), mode switch.
   The live part is re-rendered by the server (/s/{code}/live), the same answer as /api/v1/skill-codes/{code}.
   Wording comes from the page's JSON data block #sc-text (Chinese or English, like the page). */
(function () {
  "use strict";
  var root = document.documentElement;
  var T = {};
  try { T = JSON.parse(document.getElementById("sc-text").textContent); } catch (e) { /* keep defaults */ }
  var btn = document.getElementById("bigtext");
  function setBig(on) {
    root.classList.toggle("big", on);
    if (btn) btn.setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem("sc-big", on ? "1" : "0"); } catch (e) { /* private mode */ }
  }
  if (btn) {
    btn.hidden = false;
    var saved = null;
    try { saved = localStorage.getItem("sc-big"); } catch (e) { /* ignore */ }
    setBig(saved === "1");
    btn.addEventListener("click", function () { setBig(!root.classList.contains("big")); });
  }

  var live = document.getElementById("live");
  var status = document.getElementById("locstatus");
  if (!live || !window.fetch) return;
  var code = live.getAttribute("data-code");
  var lang = live.getAttribute("data-lang") || "zh";
  var mode = live.getAttribute("data-mode") || "ebike";
  var pos = null;
  var located = false;
  var seq = 0;

  function say(text) { if (status) status.textContent = text || ""; }

  /* The "use my location" button (city-centre origin only) needs geolocation: show it when there is some. */
  function offerLocate() {
    if (!navigator.geolocation) return;
    live.querySelectorAll("[data-action=locate]").forEach(function (b) { b.hidden = !!pos; });
  }

  function mapLink() {
    var link = document.getElementById("map-link");
    if (!link) return;
    var url = new URL(link.getAttribute("href"), window.location.href);
    url.searchParams.set("mode", mode);
    if (pos) {  // the map opens on what is within reach from the phone, as this page lists
      url.searchParams.set("origin", pos.lat.toFixed(5) + "," + pos.lon.toFixed(5));
      url.searchParams.delete("center");
      url.searchParams.delete("zoom");
    }
    link.setAttribute("href", url.pathname + url.search);
  }

  function load() {
    var my = ++seq;
    var q = "?mode=" + encodeURIComponent(mode) + "&lang=" + encodeURIComponent(lang);
    if (pos) {
      q += "&lat=" + pos.lat.toFixed(6) + "&lon=" + pos.lon.toFixed(6);
      if (!located) q += "&located=true";
    }
    live.setAttribute("aria-busy", "true");
    return fetch("/s/" + encodeURIComponent(code) + "/live" + q, { credentials: "omit" })
      .then(function (r) {
        if (!r.ok) return r.json().then(function (body) { throw body.error || {}; });
        return r.text();
      })
      .then(function (html) {
        if (my !== seq) return;
        if (pos) located = true;
        live.innerHTML = html;
        live.setAttribute("data-mode", mode);
        live.removeAttribute("aria-busy");
        offerLocate();
        mapLink();
      })
      .catch(function (err) {
        if (my !== seq) return;
        live.removeAttribute("aria-busy");
        if (pos) {  // outside the city or off the roads: back to the code's own starting point
          pos = null;
          say((err && err.code === "outside_service_area") ? T.outside : T.failed);
          return load();
        }
        var msg = err && (lang === "en" ? err.message_en : err.message_zh);
        say(msg || T.network || T.load_failed);
      });
  }

  function locate() {
    if (!navigator.geolocation) return;
    say(T.locating);
    navigator.geolocation.getCurrentPosition(
      function (p) {
        pos = { lat: p.coords.latitude, lon: p.coords.longitude };
        say(T.located);
        load();
      },
      function () {
        say(T.refused);
        document.body.setAttribute("data-geo", "refused");
        offerLocate();
      },
      { enableHighAccuracy: false, timeout: 10000, maximumAge: 300000 }
    );
  }

  live.addEventListener("click", function (ev) {
    if (!ev.target.closest) return;
    if (ev.target.closest("[data-action=locate]")) {
      ev.preventDefault();
      locate();
      return;
    }
    var a = ev.target.closest("a[data-mode]");
    if (!a) return;
    ev.preventDefault();
    mode = a.getAttribute("data-mode");
    load();
  });

  offerLocate();
  locate();
})();
