/*
 * SkillCircle maps (/map, /embed, /map/coverage, /embed/snippet).
 *
 * The server renders the Leaflet map with folium (tiles, district boundaries, one marker cluster with a
 * sub-group per category, layer control) and a JSON page config (#sc-config). folium's script then calls
 * SkillCircle.attach(map, layers); this file fills the markers and does everything interactive through
 * the public API (/api/v1/...). Coordinates: the page config says which datum the basemap uses
 * (cfg.crs: "wgs84" or "gcj02"); every API call passes crs=<that datum>, so clicked points are read and
 * answers are drawn in the basemap's datum. Text comes from cfg.text (Chinese or English); user data is
 * only ever inserted with textContent.
 */
(function () {
  "use strict";

  var SC = { state: { ready: false, pending: 0, markers: {}, requests: [] }, pages: {} };
  window.SkillCircle = SC;
  var cfg = null;
  var T = {};

  var ISO_STYLE = [
    { color: "#006d2c", fillColor: "#238b45", fillOpacity: 0.3 },
    { color: "#31a354", fillColor: "#74c476", fillOpacity: 0.22 },
    { color: "#74c476", fillColor: "#c7e9c0", fillOpacity: 0.2 },
  ];

  // ------------------------------------------------------------------ helpers
  function readConfig() {
    var node = document.getElementById("sc-config");
    return node ? JSON.parse(node.textContent) : {};
  }

  function fmt(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(values, k) ? values[k] : m;
    });
  }

  /* el("div", {class: "x", dataset: {id: 1}, text: "..."}, [children]) */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    attrs = attrs || {};
    Object.keys(attrs).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key === "dataset") Object.keys(value).forEach(function (d) { node.dataset[d] = value[d]; });
      else if (key === "style") Object.keys(value).forEach(function (s) { node.style[s] = value[s]; });
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function query(params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      if (params[k] !== null && params[k] !== undefined && params[k] !== "") q.set(k, params[k]);
    });
    return q.toString();
  }

  /* GET an API path; rejects with {code, message} taken from the error body. */
  function api(path, params) {
    var url = cfg.api + path + "?" + query(params || {});
    SC.state.pending += 1;
    SC.state.requests.push(url);
    return fetch(url, { headers: { Accept: "application/json" } })
      .then(function (resp) {
        return resp.json().catch(function () { return null; }).then(function (body) {
          if (!resp.ok) {
            var e = (body && body.error) || {};
            var err = new Error(e.message_en || resp.statusText);
            err.code = e.code || "http_" + resp.status;
            err.status = resp.status;
            err.text = (cfg.lang === "en" ? e.message_en : e.message_zh) || resp.statusText;
            throw err;
          }
          return body;
        });
      })
      .finally(function () {
        SC.state.pending -= 1;
      });
  }

  function setStatus(message, kind) {
    var node = byId("sc-status");
    if (!node) return;
    node.textContent = message || "";
    node.className = "sc-status" + (kind ? " sc-status-" + kind : "");
    node.dataset.kind = kind || "";
  }

  function showError(err) {
    setStatus(T.error + "：" + (err.text || err.message) + (err.code ? " (" + err.code + ")" : ""), "error");
  }

  function estimateBadge() {
    return el("span", { class: "sc-badge sc-badge-estimate", text: T.estimate_badge });
  }

  function swatch(color) {
    return el("span", { class: "sc-swatch", style: { background: color } });
  }

  function modeLabel(mode) {
    return T["mode_" + mode] || mode;
  }

  function isPhone() {
    return !!(window.matchMedia && window.matchMedia("(max-width: 760px)").matches);
  }

  /* The card / reach list: inside the side panel on wide screens, a bottom sheet on phones (CSS). */
  function showPanel() {
    var panel = byId("sc-panel");
    if (panel) panel.hidden = false;
    var sheet = byId("sc-sheet");
    if (sheet) sheet.classList.add("sc-sheet-open");
    var close = byId("sc-panel-close");
    if (close) close.hidden = false;
  }

  function hidePanel() {
    var sheet = byId("sc-sheet");
    if (sheet) sheet.classList.remove("sc-sheet-open");
    ["sc-card", "sc-reach"].forEach(function (id) { var n = byId(id); if (n) n.hidden = true; });
    var close = byId("sc-panel-close");
    if (close) close.hidden = true;
    setStatus("", "");
    if (cfg.page === "embed" || cfg.embed) byId("sc-panel").hidden = true;  // an embed's panel floats on the map
  }

  /* A map control that folds to one 44 px button (legend, layer list); folded at first on phones. */
  function collapsible(node, label, folded) {
    if (!node || node.querySelector(":scope > .sc-toggle")) return;
    node.classList.add("sc-collapsible");
    var button = el("button", { type: "button", class: "sc-toggle", "aria-expanded": folded ? "false" : "true" }, [label]);
    function set(fold) {
      node.classList.toggle("sc-folded", fold);
      button.setAttribute("aria-expanded", fold ? "false" : "true");
      button.textContent = (fold ? "▸ " : "▾ ") + label;
    }
    button.addEventListener("click", function (e) {
      e.preventDefault();
      set(!node.classList.contains("sc-folded"));
    });
    node.insertBefore(button, node.firstChild);
    set(folded);
  }

  /* Tiles that fail (offline, blocked abroad, a wrong key) get one line of notice; the map keeps working. */
  function watchTiles(map) {
    var failed = 0;
    var loaded = 0;
    map.eachLayer(function (layer) {
      if (!(layer instanceof L.TileLayer)) return;
      layer.on("tileload", function () { loaded += 1; document.body.dataset.tilesLoaded = String(loaded); });
      layer.on("tileerror", function () {
        failed += 1;
        document.body.dataset.tilesFailed = String(failed);
        var notice = byId("sc-tile-notice");
        if (notice && notice.hidden && failed >= 1) {
          notice.hidden = false;
          if (map.invalidateSize) setTimeout(function () { map.invalidateSize(); }, 0);
        }
      });
    });
  }

  /* The header menu is open in the markup (no script: everything reachable); fold it below 1100 px. */
  function foldMenu() {
    var menu = byId("sc-menu");
    if (menu && window.matchMedia && window.matchMedia("(max-width: 1099px)").matches) menu.open = false;
  }


  // ------------------------------------------------------------------ attach (called by folium's script)
  SC.attach = function (map, layers) {
    cfg = readConfig();
    T = cfg.text || {};
    SC.config = cfg;
    SC.state.map = map;
    SC.state.cluster = layers.cluster;
    SC.state.groups = layers.groups || {};
    SC.state.districts = layers.districts;
    SC.state.control = layers.control;
    SC.state.isoLayer = L.featureGroup().addTo(map);
    SC.state.originLayer = L.featureGroup().addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    // Leaflet's default prefix carries a national flag: name the library only
    if (map.attributionControl) map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    watchTiles(map);
    foldMenu();
    moveIntoControl("sc-legend", "bottomleft");
    var phone = isPhone();
    collapsible(byId("sc-legend"), byId("sc-legend") ? byId("sc-legend").dataset.label : T.legend, phone);
    if (layers.control && layers.control.getContainer) collapsible(layers.control.getContainer(), T.layers, phone);
    if (layers.cluster) layers.cluster.options.iconCreateFunction = clusterIcon;
    if (cfg.page === "coverage") initCoverage();
    else if (SC.pages[cfg.page]) SC.pages[cfg.page]();  // e.g. the province view (/static/province.js)
    else initCircleMap();
    SC.state.ready = true;
    document.body.dataset.ready = "1";
  };

  function moveIntoControl(id, position) {
    var node = byId(id);
    if (!node) return;
    var control = L.control({ position: position });
    control.onAdd = function () {
      L.DomEvent.disableClickPropagation(node);
      L.DomEvent.disableScrollPropagation(node);
      return node;
    };
    control.addTo(SC.state.map);
  }

  // ------------------------------------------------------------------ the circle map (/map, /embed)
  /* 44 × 44 px tap area around a 12 px pin (WCAG 2.5.5 target size). */
  function markerIcon(category) {
    var color = (cfg.categories[category] || {}).color || "#555";
    return L.divIcon({
      className: "sc-marker sc-cat-" + category,
      html: '<span class="sc-pin" style="background:' + color + '"></span>',
      iconSize: [44, 44],
      iconAnchor: [22, 22],
    });
  }

  function clusterIcon(cluster) {
    var n = cluster.getChildCount();
    var size = n < 10 ? "small" : n < 100 ? "medium" : "large";
    return L.divIcon({
      html: "<div><span>" + n + "</span></div>",
      className: "marker-cluster marker-cluster-" + size,
      iconSize: L.point(44, 44),
    });
  }

  /* One marker per resource of cfg.resources (kept in SC.state.markers; the sub-groups get them). */
  function makeMarkers(onClick) {
    cfg.resources.forEach(function (r) {
      var marker = L.marker([r.lat, r.lon], { icon: markerIcon(r.category), title: r.name, riseOnHover: true });
      marker.scResource = r;
      marker.on("add", function () {
        var node = marker.getElement();
        if (node) {
          node.dataset.id = r.id;
          node.dataset.category = r.category;
        }
      });
      marker.on("click", function () { onClick(r); });
      SC.state.markers[r.id] = marker;
    });
  }

  /* The city whose API answers about resource `id` (a province page shows several cities). */
  function resourceCity(id) {
    var marker = SC.state.markers[id];
    return (marker && marker.scResource.city) || cfg.city.key;
  }

  function initCircleMap() {
    var map = SC.state.map;
    makeMarkers(function (r) { openResource(r.id); });
    applySkillFilter(cfg.skill || "");
    if (cfg.fit && cfg.resources.length) {
      var bounds = L.latLngBounds(cfg.resources.map(function (r) { return [r.lat, r.lon]; }));
      map.fitBounds(bounds.pad(0.05), { maxZoom: map.getZoom() + 2, animate: false });  // the first framing: no animation to race
    }
    var modeSelect = byId("sc-mode");
    if (modeSelect) modeSelect.addEventListener("change", function () {
      cfg.mode = modeSelect.value;
      rememberInUrl({ mode: cfg.mode });
      redrawSelection();
    });
    loadSkills();
    map.on("click", function (e) {
      rememberInUrl({ origin: null });  // the address no longer opens the code's place: this click replaces it
      reachFrom(e.latlng);
    });
    // ?origin=lat,lon (a 技能码's place): open on what is within reach from there, framed
    if (cfg.origin) reachFrom(L.latLng(cfg.origin[0], cfg.origin[1]), { frame: true });
    var close = byId("sc-panel-close");
    if (close) close.addEventListener("click", function () {
      hidePanel();
      clearSelection();
    });
  }

  /* Put only the markers offering `skill` (all when empty) into their category sub-groups. */
  function applySkillFilter(skill) {
    var map = SC.state.map;
    var shown = {};
    Object.keys(SC.state.groups).forEach(function (key) {
      var group = SC.state.groups[key];
      var onMap = map.hasLayer(group);
      if (onMap) map.removeLayer(group);
      group.clearLayers();
      shown[key] = 0;
      cfg.resources.forEach(function (r) {
        if (r.category !== key) return;
        if (skill && r.skills.indexOf(skill) < 0) return;
        group.addLayer(SC.state.markers[r.id]);
        shown[key] += 1;
      });
      if (onMap) map.addLayer(group);
    });
    SC.state.skill = skill;
    document.querySelectorAll("#sc-legend li[data-category]").forEach(function (li) {
      var n = shown[li.dataset.category] || 0;
      li.dataset.shown = n;
      var count = li.querySelector(".sc-count");
      if (count) count.textContent = skill ? n + " / " + li.dataset.count : li.dataset.count;
    });
    SC.state.shown = shown;
  }

  function loadSkills() {
    var select = byId("sc-skill");
    if (!select) return;
    api("/skills", { city: cfg.city.key })
      .then(function (skills) {
        var selected = select.dataset.selected || "";
        select.textContent = "";
        select.appendChild(el("option", { value: "", text: T.all_skills }));
        skills.forEach(function (s) {
          select.appendChild(el("option", { value: s.name, translate: "no", selected: s.name === selected, text: s.name + " (" + s.resources + ")" }));
        });
        select.dataset.loaded = String(skills.length);
      })
      .catch(showError);
    select.addEventListener("change", function () {
      applySkillFilter(select.value);
      rememberInUrl({ skill: select.value });
      if (SC.state.origin) reachFrom(SC.state.origin);
    });
  }

  function rememberInUrl(values) {
    if (cfg.page !== "map" || !window.history || !window.history.replaceState) return;
    var url = new URL(window.location.href);
    Object.keys(values).forEach(function (k) {
      if (values[k]) url.searchParams.set(k, values[k]);
      else url.searchParams.delete(k);
    });
    window.history.replaceState(null, "", url.toString());
  }

  function clearSelection() {
    rememberInUrl({ origin: null });
    SC.state.isoLayer.clearLayers();
    SC.state.originLayer.clearLayers();
    SC.state.selected = null;
    SC.state.origin = null;
    var legend = byId("sc-iso-legend");
    if (legend) legend.hidden = true;
  }

  function redrawSelection() {
    if (SC.state.selected) openResource(SC.state.selected);
    else if (SC.state.origin) reachFrom(SC.state.origin);
  }

  function drawIsochrones(fc, kind) {
    var layer = SC.state.isoLayer;
    layer.clearLayers();
    var bands = (fc.features || []).map(function (f) { return f.properties.minutes; }).sort(function (a, b) { return a - b; });
    L.geoJSON(fc, {
      interactive: false,
      style: function (feature) {
        var i = Math.max(0, bands.indexOf(feature.properties.minutes));
        var s = ISO_STYLE[Math.min(i, ISO_STYLE.length - 1)];
        return {
          className: "sc-iso sc-iso-" + kind + " sc-iso-band-" + (i + 1),
          color: s.color,
          weight: 1.5,
          fillColor: s.fillColor,
          fillOpacity: s.fillOpacity,
        };
      },
    }).addTo(layer);
    SC.state.lastIsochrones = { kind: kind, fc: fc };
    var legend = byId("sc-iso-legend");
    if (legend) legend.hidden = false;
  }

  var ticket = 0;

  function openResource(id) {
    var mine = ++ticket;
    SC.state.selected = id;
    SC.state.origin = null;
    SC.state.originLayer.clearLayers();
    showPanel();
    setStatus(T.loading, "loading");
    var crs = cfg.crs;
    var city = resourceCity(id);
    var detail = api("/resources/" + id, { city: city, lang: cfg.lang, crs: crs });
    var circle = api("/resources/" + id + "/isochrones", {
      city: city,
      mode: cfg.mode,
      minutes: cfg.bands.join(","),
      crs: crs,
    });
    detail
      .then(function (res) {
        if (mine !== ticket) return;
        renderCard(res);
      })
      .catch(function (err) { if (mine === ticket) showError(err); });
    circle
      .then(function (fc) {
        if (mine !== ticket) return;
        drawIsochrones(fc, "resource");
        renderCircleCaption(fc);
        // show the whole circle when it does not fit the current view
        var bounds = SC.state.isoLayer.getBounds();
        var map = SC.state.map;
        if (bounds.isValid() && !map.getBounds().contains(bounds)) map.fitBounds(bounds, { padding: [20, 20], animate: false });
      })
      .catch(function (err) { if (mine === ticket) showError(err); });
    return Promise.allSettled([detail, circle]).then(function (results) {
      if (mine === ticket && results.every(function (r) { return r.status === "fulfilled"; })) setStatus("", "");
    });
  }

  function renderCircleCaption(fc) {
    var card = byId("sc-card");
    var caption = el("p", { class: "sc-circle-caption", dataset: { estimate: fc.estimate ? "1" : "0" } }, [
      fmt(T.circle_of, { bands: cfg.bands.join("/"), mode: modeLabel(cfg.mode) }),
      fc.estimate ? " " : null,
      fc.estimate ? estimateBadge() : null,
    ]);
    var old = card.querySelector(".sc-circle-caption");
    if (old) old.replaceWith(caption);
    else card.appendChild(caption);
  }

  function dateRange(a, b) {
    return a === b ? a : a + " – " + b;
  }

  function money(value) {
    return value === null || value === undefined ? null : value + " " + T.yuan;
  }

  function renderCard(res) {
    var card = byId("sc-card");
    var reach = byId("sc-reach");
    if (reach) reach.hidden = true;
    var cat = cfg.categories[res.category] || {};
    var rows = [];
    function row(label, value, cls) {
      if (value === null || value === undefined || value === "") return;
      rows.push(el("dt", { text: label }), el("dd", { class: cls || null, text: value }));
    }
    row(T.address, res.address, "sc-address");
    row(T.district, [res.district, res.town].filter(Boolean).join(" · "));
    row(T.phone, res.phone);
    row(T.hours, res.opening_hours);
    var classes = (res.next_classes || []).map(function (c) {
      var bits = [c.level_label, dateRange(c.start_date, c.end_date), c.schedule_label, T.seats_left + " " + c.seats_left + "/" + c.seats_total];
      if (c.fee !== null && c.fee !== undefined) bits.push(T.fee + " " + money(c.fee));
      if (c.subsidy) bits.push(T.subsidy + " " + money(c.subsidy));
      var signupLink = el("a", { class: "sc-class-signup", href: "/signup/" + c.id + "?lang=" + cfg.lang, text: T.signup_class });
      return el("li", { class: "sc-class", dataset: { id: c.id } }, [el("strong", { text: c.skill }), " " + bits.join(" · ") + " ", signupLink]);
    });
    var evaluations = (res.next_evaluations || []).map(function (e) {
      var bits = [e.level_label, e.date, T.seats_left + " " + e.seats_left];
      if (e.fee !== null && e.fee !== undefined) bits.push(T.fee + " " + money(e.fee));
      var signupLink = e.signup_open  // closed the day before the session
        ? el("a", { class: "sc-evaluation-signup", href: "/signup/e/" + e.id + "?lang=" + cfg.lang, text: T.signup_evaluation })
        : null;
      return el("li", { class: "sc-evaluation", dataset: { id: e.id } }, [el("strong", { text: e.skill }), " " + bits.join(" · ") + " ", signupLink]);
    });
    var reg = res.registration || {};
    var signup = [];
    if (reg.steps && reg.steps.length) signup.push(el("ol", { class: "sc-steps" }, reg.steps.map(function (s) { return el("li", { text: s }); })));
    if (reg.url && /^https?:\/\//i.test(reg.url)) {
      signup.push(el("p", {}, [el("a", { class: "sc-signup-link", href: reg.url, target: "_blank", rel: "noopener noreferrer", text: T.signup_online })]));
    }
    if (reg.phone) signup.push(el("p", { text: T.signup_phone + "：" + reg.phone }));
    if (res.subsidy && res.subsidy.eligible) signup.push(el("p", { class: "sc-subsidy", text: T.subsidy_eligible + (res.subsidy.note ? "（" + res.subsidy.note + "）" : "") }));

    card.textContent = "";
    card.dataset.id = res.id;
    card.appendChild(el("header", {}, [
      el("h2", { class: "sc-card-name", translate: "no", text: res.name }),
      el("p", { class: "sc-card-category" }, [swatch(cat.color || "#555"), res.category_label]),
      res.is_sample ? el("p", { class: "sc-badge sc-badge-sample", text: (res.notice && res.notice[cfg.lang]) || T.data_sample_banner }) : null,
    ]));
    card.appendChild(el("dl", { class: "sc-facts" }, rows));
    card.appendChild(el("h3", { text: T.skills }));
    card.appendChild(el("ul", { class: "sc-skills" }, (res.skills || []).map(function (s) {
      return el("li", { text: s.name + (s.code ? " (" + s.code + ")" : "") });
    })));
    card.appendChild(el("h3", { text: T.next_classes }));
    card.appendChild(classes.length ? el("ul", { class: "sc-classes" }, classes) : el("p", { class: "sc-none", text: T.none_scheduled }));
    if (evaluations.length || res.category === "evaluation") {
      card.appendChild(el("h3", { text: T.next_evaluations }));
      card.appendChild(evaluations.length ? el("ul", { class: "sc-evaluations" }, evaluations) : el("p", { class: "sc-none", text: T.none_scheduled }));
    }
    card.appendChild(el("h3", { text: T.signup }));
    card.appendChild(el("div", { class: "sc-signup" }, signup.length ? signup : [el("p", { class: "sc-none", text: T.none_scheduled })]));
    if (SC.state.lastIsochrones && SC.state.lastIsochrones.kind === "resource") renderCircleCaption(SC.state.lastIsochrones.fc);
    card.hidden = false;
  }

  function reachFrom(latlng, options) {
    var frame = !!(options && options.frame);
    var mine = ++ticket;
    SC.state.selected = null;
    SC.state.origin = latlng;
    showPanel();
    var origin = SC.state.originLayer;
    origin.clearLayers();
    L.circleMarker(latlng, { className: "sc-origin", radius: 7, color: "#111", weight: 2, fillColor: "#fff", fillOpacity: 1 }).addTo(origin);
    setStatus(T.loading, "loading");
    var lat = latlng.lat.toFixed(7);
    var lon = latlng.lng.toFixed(7);
    var minutes = Math.max.apply(null, cfg.bands);
    var categories = Object.keys(cfg.categories);
    var common = { city: cfg.city.key, lat: lat, lon: lon, mode: cfg.mode, crs: cfg.crs };
    var nearby = api("/nearby", Object.assign({}, common, {
      minutes: minutes,
      lang: cfg.lang,
      limit: 50,
      skill: SC.state.skill || null,
      category: categories.length < 6 ? categories.join(",") : null,
    }));
    var iso = api("/isochrones", Object.assign({}, common, { minutes: cfg.bands.join(","), direction: "from" }));
    nearby.then(function (answer) { if (mine === ticket) renderReach(answer); }).catch(function (err) {
      if (mine === ticket) showError(err);
    });
    iso.then(function (fc) { if (mine === ticket) drawIsochrones(fc, "origin"); }).catch(function (err) {
      if (mine === ticket) {
        SC.state.isoLayer.clearLayers();
        showError(err);
      }
    });
    return Promise.allSettled([nearby, iso]).then(function (results) {
      if (mine !== ticket) return;
      if (results.every(function (r) { return r.status === "fulfilled"; })) {
        renderBandPopulation(results[1].value);
        setStatus("", "");
      }
      // framed once the sheet holds everything it will show (its height no longer changes)
      var bounds = SC.state.isoLayer.getBounds();
      if (frame && results[1].status === "fulfilled" && bounds.isValid()) frameAboveSheet(bounds);
    });
  }

  /* Fit `bounds` in the part of the map a worker sees: on the /map page on a phone, above the open
   * bottom sheet (an embed's panel floats beside or over the map instead: it is not allowed for). The
   * padding never takes more than 60 % of the map's height, so a short map still gets a sensible zoom. */
  function frameAboveSheet(bounds) {
    var map = SC.state.map;
    var sheet = byId("sc-sheet");
    var mapBox = map.getContainer().getBoundingClientRect();
    var covered = 0;
    if (cfg.page === "map" && isPhone() && sheet && sheet.classList.contains("sc-sheet-open")) {
      covered = Math.max(0, mapBox.bottom - sheet.getBoundingClientRect().top);
    }
    covered = Math.min(covered, 0.6 * mapBox.height);
    map.fitBounds(bounds, { paddingTopLeft: [20, 20], paddingBottomRight: [20, 20 + covered], animate: false });
  }

  // People inside each band of the click's isochrones (total_pop), and which population surface says so.
  function renderBandPopulation(fc) {
    var box = byId("sc-reach");
    var feats = (fc.features || []).slice().sort(function (a, b) { return a.properties.minutes - b.properties.minutes; });
    if (!box || !feats.length) return;
    var surface = fc.population_surface || {};
    box.appendChild(el("ul", { class: "sc-band-pop sc-small", dataset: { surface: surface.kind || "" } },
      feats.map(function (f) {
        return el("li", {
          dataset: { minutes: f.properties.minutes, pop: f.properties.total_pop },
          text: fmt(T.band_population, { minutes: f.properties.minutes, n: number(f.properties.total_pop) }),
        });
      })));
    if (surface.kind === "model") box.appendChild(el("p", { class: "sc-small sc-band-pop-note", text: T.band_population_model }));
  }

  function renderReach(answer) {
    var card = byId("sc-card");
    if (card) card.hidden = true;
    var box = byId("sc-reach");
    box.textContent = "";
    box.dataset.count = answer.count;
    box.dataset.estimate = answer.estimate ? "1" : "0";
    box.appendChild(el("h2", {}, [
      fmt(T.reach_from, { minutes: answer.minutes, mode: modeLabel(answer.mode) }),
      answer.estimate ? " " : null,
      answer.estimate ? estimateBadge() : null,
    ]));
    if (!answer.items.length) {
      box.appendChild(el("p", { class: "sc-none", text: fmt(T.reach_none, { minutes: answer.minutes }) }));
    } else {
      box.appendChild(el("p", { class: "sc-small", text: fmt(T.reach_count, { n: answer.count }) }));
      box.appendChild(el("ol", { class: "sc-reach-list" }, answer.items.map(function (item) {
        var r = item.resource;
        var cat = cfg.categories[r.category] || {};
        return el("li", { dataset: { id: r.id, category: r.category } }, [
          el("a", { href: "#", role: "button", class: "sc-link", onclick: function (e) {
            e.preventDefault();
            var marker = SC.state.markers[r.id];
            if (marker && SC.state.cluster) SC.state.cluster.zoomToShowLayer(marker, function () {});
            openResource(r.id);
          } }, [swatch(cat.color || "#555"), el("span", { translate: "no", text: r.name })]),
          el("span", { class: "sc-minutes", text: " " + item.minutes + " " + T.minutes }),
        ]);
      })));
    }
    box.hidden = false;
  }

  // ------------------------------------------------------------------ the coverage map (/map/coverage)
  var GAP_BEYOND = { fillColor: "#fc8d59", color: "#d7301f" };
  var GAP_NONE = { fillColor: "#b30000", color: "#7f0000" };
  var RAMP = ["#1a9850", "#66bd63", "#a6d96a", "#d9ef8b"];

  function cellStyle(limit) {
    return function (feature) {
      var p = feature.properties;
      if (!p.covered) {
        var gap = p.minutes === null || p.minutes === undefined ? GAP_NONE : GAP_BEYOND;
        return {
          className: "sc-cell sc-cell-gap",
          color: gap.color,
          weight: 1.2,
          opacity: 0.9,
          fillColor: gap.fillColor,
          fillOpacity: 0.55,
        };
      }
      var i = Math.min(RAMP.length - 1, Math.floor((p.minutes / limit) * RAMP.length));
      return { className: "sc-cell sc-cell-covered", stroke: true, color: RAMP[i], weight: 0.3, fillColor: RAMP[i], fillOpacity: 0.45 };
    };
  }

  function cellLegend(limit) {
    var list = byId("sc-cell-legend");
    if (!list) return;
    list.textContent = "";
    RAMP.forEach(function (color, i) {
      var a = Math.round((i * limit) / RAMP.length);
      var b = Math.round(((i + 1) * limit) / RAMP.length);
      list.appendChild(el("li", {}, [swatch(color), a + "–" + b + " " + T.minutes]));
    });
    list.appendChild(el("li", { class: "sc-legend-gap" }, [swatch(GAP_BEYOND.fillColor), fmt(T.beyond_limit, { m: limit })]));
    list.appendChild(el("li", { class: "sc-legend-gap" }, [swatch(GAP_NONE.fillColor), T.unreachable]));
  }

  function number(n) {
    return n === null || n === undefined ? "–" : Number(n).toLocaleString(cfg.lang === "en" ? "en-US" : "zh-CN");
  }

  function percent(share) {
    return share === null || share === undefined ? "–" : (share * 100).toFixed(1) + "%";
  }

  function initCoverage() {
    var map = SC.state.map;
    var limit = cfg.minutes;
    cellLegend(limit);
    setStatus(T.loading, "loading");
    SC.state.coverage = api("/coverage", {
      city: cfg.city.key,
      category: cfg.category || null,
      mode: cfg.mode,
      minutes: limit,
      grid: "true",
      resolution: cfg.resolution || null,
      crs: cfg.crs,
    })
      .then(function (answer) {
        var grid = answer.grid || { type: "FeatureCollection", features: [] };
        var many = grid.features.length > 4000;
        var cells = L.geoJSON(grid, {
          style: cellStyle(answer.minutes || limit),
          renderer: many ? L.canvas({ padding: 0.2 }) : undefined,
          onEachFeature: function (feature, layer) {
            var p = feature.properties;
            var minutes = p.minutes === null || p.minutes === undefined ? T.unreachable : Math.round(p.minutes) + " " + T.minutes;
            layer.bindTooltip(
              [p.district, p.town].filter(Boolean).join(" · ") + "\n" + minutes + " · " + T.population + " " + number(p.population),
              { sticky: true }
            );
          },
        });
        cells.addTo(map);
        if (SC.state.districts) SC.state.districts.bringToFront();
        SC.state.cells = cells;
        SC.state.coverageAnswer = answer;
        document.body.dataset.cells = String(grid.features.length);
        document.body.dataset.gaps = String(grid.features.filter(function (f) { return !f.properties.covered; }).length);
        if (cfg.fit && grid.features.length) map.fitBounds(cells.getBounds(), { maxZoom: map.getZoom() + 2 });
        renderCoverageTables(answer);
        setStatus("", "");
      })
      .catch(showError);
  }

  function renderCoverageTables(answer) {
    var summary = byId("sc-coverage-summary");
    var total = answer.total || {};
    summary.textContent = "";
    summary.dataset.uncovered = String((total.population || 0) - (total.covered || 0));
    var notices = [];
    if (answer.notice) {
      Object.keys(answer.notice).forEach(function (k) {
        var n = answer.notice[k];
        var text = typeof n === "string" ? n : n && n[cfg.lang];
        if (text) notices.push(el("p", { class: "sc-note sc-note-" + k, dataset: { kind: k }, text: text }));
      });
    }
    summary.appendChild(el("h2", {}, [
      T.total + "：" + T.share + " " + percent(total.share),
      answer.estimate ? " " : null,
      answer.estimate ? estimateBadge() : null,
    ]));
    summary.appendChild(el("p", {
      text: T.population + " " + number(total.population) + " · " + T.covered + " " + number(total.covered) + " · " +
        T.uncovered + " " + number((total.population || 0) - (total.covered || 0)),
    }));
    notices.forEach(function (n) { summary.appendChild(n); });
    summary.hidden = false;

    var dBody = byId("sc-district-table").querySelector("tbody");
    dBody.textContent = "";
    (answer.districts || []).slice().sort(function (a, b) { return b.uncovered - a.uncovered; }).forEach(function (d) {
      dBody.appendChild(el("tr", { dataset: { adcode: d.adcode, uncovered: d.uncovered } }, [
        el("td", { translate: "no", text: d.name }),
        el("td", { class: "sc-num", text: number(d.population) }),
        el("td", { class: "sc-num" + (d.uncovered > 0 ? " sc-gap-text" : ""), text: number(d.uncovered) }),
        el("td", { class: "sc-num", text: percent(d.share) }),
      ]));
    });
    var tBody = byId("sc-town-table").querySelector("tbody");
    tBody.textContent = "";
    (answer.towns || []).slice().sort(function (a, b) { return b.uncovered - a.uncovered; }).forEach(function (t) {
      tBody.appendChild(el("tr", { dataset: { uncovered: t.uncovered, approximate: t.approximate ? "1" : "0" } }, [
        el("td", { translate: "no", text: (t.approximate ? "≈ " : "") + t.name }),
        el("td", { translate: "no", text: t.district }),
        el("td", { class: "sc-num", text: number(t.population) }),
        el("td", { class: "sc-num" + (t.uncovered > 0 ? " sc-gap-text" : ""), text: number(t.uncovered) }),
        el("td", { class: "sc-num", text: percent(t.share) }),
      ]));
    });
    byId("sc-coverage-tables").hidden = false;
  }

  /* What other page scripts (/static/province.js) build on. */
  SC.util = {
    el: el,
    api: api,
    fmt: fmt,
    byId: byId,
    setStatus: setStatus,
    showError: showError,
    estimateBadge: estimateBadge,
    swatch: swatch,
    number: number,
    percent: percent,
    modeLabel: modeLabel,
    makeMarkers: makeMarkers,
    applySkillFilter: applySkillFilter,
    openResource: openResource,
    showPanel: showPanel,
    hidePanel: hidePanel,
    clearSelection: clearSelection,
  };

  // ------------------------------------------------------------------ the embed-code generator (/embed/snippet)
  function attr(value) {
    return String(value).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  SC.snippet = function () {
    cfg = readConfig();
    T = cfg.text || {};
    SC.config = cfg;
    var form = byId("sc-snippet-form");
    var code = byId("sc-snippet-code");
    var preview = byId("sc-preview");
    var timer = null;

    function values() {
      var data = {};
      new FormData(form).forEach(function (v, k) { data[k] = String(v).trim(); });
      return data;
    }

    function update() {
      var v = values();
      var params = query({
        city: v.city,
        category: v.category,
        skill: v.skill,
        mode: v.mode,
        lang: v.lang,
        basemap: v.basemap,
        center: v.center.replace(/\s+/g, ""),
        zoom: v.zoom,
      });
      var src = "/embed?" + params;
      var width = v.width || "100%";
      var height = parseInt(v.height, 10) || 600;
      code.value =
        '<iframe src="' + attr(cfg.base_url + src) + '" title="' + attr(cfg.iframe_titles[v.lang] || T.iframe_title) +
        '" width="' + attr(width) +
        '" height="' + height + '" style="border:0;max-width:100%" loading="lazy"></iframe>';
      preview.style.width = /^\d+$/.test(width) ? width + "px" : width;
      preview.style.height = height + "px";
      var size = byId("sc-preview-size");
      if (size) size.textContent = /^\d+$/.test(width)
        ? fmt(T.preview_size, { w: width, h: height })
        : fmt(T.preview_size_fluid, { w: width, h: height });
      if (preview.getAttribute("src") !== src) preview.setAttribute("src", src);
      SC.state.snippet = { code: code.value, src: src };
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(update, 300);
    }

    /* The city choice's option: a province has no skill list, and its own default centre and zoom. */
    function chosen() {
      var select = form.elements.city;
      return select.options[select.selectedIndex] || null;
    }

    function placeholders() {
      var option = chosen();
      if (!option) return;
      form.elements.center.placeholder = option.dataset.center || "";
      form.elements.zoom.placeholder = option.dataset.zoom || "";
    }

    function loadSkills(city) {
      var select = form.elements.skill;
      var option = chosen();
      if (option && option.dataset.province) {  // a province embed shows every skill: nothing to choose
        select.textContent = "";
        select.appendChild(el("option", { value: "", text: T.all_skills }));
        select.disabled = true;
        select.dataset.loaded = "0";
        return Promise.resolve();
      }
      select.disabled = false;
      return api("/skills", { city: city })
        .then(function (skills) {
          var keep = select.value;
          select.textContent = "";
          select.appendChild(el("option", { value: "", text: T.all_skills }));
          skills.forEach(function (s) {
            select.appendChild(el("option", { value: s.name, translate: "no", selected: s.name === keep, text: s.name + " (" + s.resources + ")" }));
          });
          select.dataset.loaded = String(skills.length);
        })
        .catch(function () { select.dataset.loaded = "0"; });
    }

    form.addEventListener("submit", function (e) { e.preventDefault(); update(); });
    form.addEventListener("input", schedule);
    form.addEventListener("change", function (e) {
      if (e.target.name === "city") {
        form.elements.skill.value = "";
        placeholders();
        loadSkills(e.target.value).then(update);
      }
      schedule();
    });
    byId("sc-snippet-copy").addEventListener("click", function () {
      var done = function () { byId("sc-snippet-copied").hidden = false; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(code.value).then(done, function () {
          code.select();
          if (document.execCommand("copy")) done();
        });
      } else {
        code.select();
        if (document.execCommand("copy")) done();
      }
    });
    loadSkills(form.elements.city.value).then(update);
    update();
    SC.state.ready = true;
    document.body.dataset.ready = "1";
  };

  // ------------------------------------------------------------------ header switches (no inline handlers: CSP)
  document.addEventListener("change", function (e) {
    var target = e.target;
    if (target && target.hasAttribute && target.hasAttribute("data-autosubmit") && target.form) target.form.submit();
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (SC.state.map) return;
    foldMenu();
    if (document.body.classList.contains("sc-page-snippet")) SC.snippet();
  });
})();
