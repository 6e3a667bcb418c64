/* 技能码 landing page: large-text toggle, phone location (WGS84 from the browser), mode switch.
   The live part is re-rendered by the server (/s/{code}/live), the same answer as /api/v1/skill-codes/{code}. */
(function () {
  "use strict";
  var root = document.documentElement;
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
  var mode = live.getAttribute("data-mode") || "ebike";
  var pos = null;
  var located = false;
  var seq = 0;

  function say(text) { if (status) status.textContent = text; }

  function load() {
    var my = ++seq;
    var q = "?mode=" + encodeURIComponent(mode);
    if (pos) {
      q += "&lat=" + pos.lat.toFixed(6) + "&lon=" + pos.lon.toFixed(6);
      if (!located) q += "&located=true";
    }
    live.setAttribute("aria-busy", "true");
    return fetch("/s/" + encodeURIComponent(code) + "/live" + q, { credentials: "omit" })
      .then(function (r) {
        if (!r.ok) return r.json().then(function (body) { throw body.error || { message_zh: "加载失败" }; });
        return r.text();
      })
      .then(function (html) {
        if (my !== seq) return;
        if (pos) located = true;
        live.innerHTML = html;
        live.setAttribute("data-mode", mode);
        live.removeAttribute("aria-busy");
      })
      .catch(function (err) {
        if (my !== seq) return;
        live.removeAttribute("aria-busy");
        if (pos) {  // outside the city or off the roads: fall back to the code's own place
          pos = null;
          say("您的位置" + ((err && err.code === "outside_service_area") ? "不在本市服务范围内" : "暂时无法计算") +
              "，已按本码张贴地点显示。");
          return load();
        }
        say((err && err.message_zh) || "网络不太好，请稍后再试。");
      });
  }

  live.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a[data-mode]") : null;
    if (!a) return;
    ev.preventDefault();
    mode = a.getAttribute("data-mode");
    load();
  });

  if (navigator.geolocation) {
    say("正在获取您的位置（仅用于计算路程，不会保存）…");
    navigator.geolocation.getCurrentPosition(
      function (p) {
        pos = { lat: p.coords.latitude, lon: p.coords.longitude };
        say("已按您当前的位置计算出行时间。");
        load();
      },
      function () {
        say("未获得定位权限，出行时间从本码张贴地点算起。");
        document.body.setAttribute("data-geo", "refused");
      },
      { enableHighAccuracy: false, timeout: 10000, maximumAge: 300000 }
    );
  }
})();
