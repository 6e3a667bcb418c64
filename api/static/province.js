/*
 * SkillCircle province view (/map?city=<province>, /map/coverage?city=<province>, /embed?city=<province>),
 * loaded after map.js.
 *
 * It registers SkillCircle.pages.province, ["province-embed"] and ["province-coverage"], which
 * SkillCircle.attach (map.js) calls once folium has built the map. The server puts the simplified
 * polygons in the page config (cfg.layers, already in the basemap's datum): each city's outline, the grey
 * outlines of the cities without a pack, and (gap map) every district. The gap map asks
 * /api/v1/plan/table?city=<province> for the city and district rows and colours each district by its
 * covered share. User data is only ever inserted with textContent (map.js's el()).
 */
(function () {
  "use strict";

  var SC = window.SkillCircle;
  var U = SC.util;

  var OUTLINE = { color: "#1a5276", weight: 2.4, opacity: 0.95, fill: false };
  var MISSING = { color: "#6c7a89", weight: 1.2, opacity: 0.9, dashArray: "5 4", fillColor: "#aab7b8", fillOpacity: 0.5 };
  /* Covered share classes, best first (ColorBrewer RdYlGn); districts without residents are "no data". */
  var SHARE_CLASSES = [
    { min: 0.95, color: "#1a9850" },
    { min: 0.85, color: "#91cf60" },
    { min: 0.7, color: "#d9ef8b" },
    { min: 0.5, color: "#fee08b" },
    { min: 0.25, color: "#fc8d59" },
    { min: 0, color: "#d73027" },
  ];
  var NO_DATA = "#d5d8dc";
  /* A city with nothing in the registry: 0 covered because nothing is registered, not only far away. */
  var EMPTY = "#ffffff";

  function emptyCities(answer) {
    var out = {};
    (answer.cities || []).forEach(function (c) { if (!c.resources) out[c.key] = true; });
    return out;
  }

  function cityInfo(cfg, key) {
    var all = cfg.province.cities.concat(cfg.province.missing);
    for (var i = 0; i < all.length; i += 1) if (all[i].key === key) return all[i];
    return null;
  }

  /* City outlines (labelled) and the grey outlines of the cities without a pack, in the layer control. */
  function drawCities(cfg, interactive) {
    var T = cfg.text;
    var map = SC.state.map;
    var byCity = {};
    var cities = L.geoJSON(cfg.layers.cities, {
      interactive: false,
      style: function () { return Object.assign({ className: "sc-city-outline" }, OUTLINE); },
      onEachFeature: function (feature, layer) {
        byCity[feature.properties.city] = layer;
        layer.bindTooltip(el("span", { text: feature.properties.name }), { permanent: true, direction: "center", className: "sc-city-label" });
      },
    }).addTo(map);
    var missing = L.geoJSON(cfg.layers.missing, {
      interactive: interactive,
      style: function () { return Object.assign({ className: "sc-missing-city" }, MISSING); },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        byCity[p.city] = layer;
        layer.bindTooltip(el("span", { text: p.name + " (" + T.no_pack + ")" }), {
          permanent: true,
          direction: "center",
          className: "sc-city-label sc-city-label-missing",
        });
        if (interactive) layer.on("click", function () {
          U.showPanel();
          U.setStatus(p.name + " · " + T.no_pack + "：" + p.reason, "info");
        });
      },
    }).addTo(map);
    if (SC.state.control) {
      SC.state.control.addOverlay(cities, T.cities_layer);
      SC.state.control.addOverlay(missing, T.missing_layer);
    }
    // zoomed far out (a phone shows the whole province at zoom 6) the grey cities' labels would overlap
    var container = map.getContainer();
    function labels() { container.classList.toggle("sc-zoomed-out", map.getZoom() < 7); }
    map.on("zoomend", labels);
    labels();
    SC.state.cityLayers = byCity;
    SC.state.outlines = cities;
    SC.state.missing = missing;
    document.body.dataset.outlines = String(cities.getLayers().length);
    document.body.dataset.missing = String(missing.getLayers().length);
    var all = L.featureGroup([cities, missing]);
    if (cfg.fit && all.getBounds().isValid()) map.fitBounds(all.getBounds(), { animate: false });
    if (cfg.fit && cfg.embed) refitUntilTouched(map, all);
    return all;
  }

  /* A portal may size its iframe after the page has loaded (a fluid column, a tab shown later): the
     embed frames the whole province again on each resize, until the user moves the map or picks a city. */
  function refitUntilTouched(map, all) {
    var touched = false;
    var container = map.getContainer();
    ["pointerdown", "wheel", "keydown"].forEach(function (name) {
      container.addEventListener(name, function () { touched = true; }, { passive: true });
    });
    var jump = U.byId("sc-province-jump");
    if (jump) jump.addEventListener("change", function () { touched = true; });
    map.on("resize", function () {
      if (!touched && all.getBounds().isValid()) map.fitBounds(all.getBounds(), { animate: false });
    });
  }

  function jumpTo(all) {
    var select = U.byId("sc-province-jump");
    if (!select) return;
    select.addEventListener("change", function () {
      var layer = select.value ? SC.state.cityLayers[select.value] : all;
      if (layer && layer.getBounds) SC.state.map.fitBounds(layer.getBounds(), { animate: false });
    });
  }

  // ------------------------------------------------------------------ /map?city=<province>
  SC.pages.province = function () {
    var cfg = SC.config;
    var T = cfg.text;
    var all = drawCities(cfg, true);
    U.makeMarkers(function (r) {
      if (r.served) {
        U.openResource(r.id);
        return;
      }
      var info = cityInfo(cfg, r.city);
      U.showPanel();
      U.setStatus(U.fmt(T.not_served_status, { city: info ? info.name : r.city }), "info");
    });
    U.applySkillFilter("");
    if (SC.state.districts) SC.state.districts.bringToBack();
    jumpTo(all);
    var close = U.byId("sc-panel-close");
    if (close) close.addEventListener("click", function () {
      U.hidePanel();
      U.clearSelection();
    });
  };

  // ------------------------------------------------------------------ /embed?city=<province>
  /* The same map without page chrome: the card floats on the map (map.js hides it when closed). */
  SC.pages["province-embed"] = SC.pages.province;

  // ------------------------------------------------------------------ /map/coverage?city=<province>
  function shareClass(row) {
    if (!row || !row.population) return -1;
    for (var i = 0; i < SHARE_CLASSES.length; i += 1) if (row.share >= SHARE_CLASSES[i].min) return i;
    return SHARE_CLASSES.length - 1;
  }

  function shareLegend(T) {
    var list = U.byId("sc-share-legend");
    if (!list) return;
    list.textContent = "";
    SHARE_CLASSES.forEach(function (c, i) {
      var upper = i === 0 ? 100 : Math.round(SHARE_CLASSES[i - 1].min * 100);
      var label = Math.round(c.min * 100) + "–" + upper + "%";
      list.appendChild(el("li", { dataset: { share: i } }, [swatchBox(c.color), label]));
    });
    list.appendChild(el("li", { dataset: { share: -1 } }, [swatchBox(NO_DATA), T.no_data]));
    list.appendChild(el("li", { dataset: { share: "empty" } }, [swatchBox(EMPTY, true), T.nothing_registered]));
    list.appendChild(el("li", {}, [swatchBox("#aab7b8", true), T.missing_layer]));
  }

  function el(tag, attrs, children) {
    return U.el(tag, attrs, children);
  }

  function swatchBox(color, dashed) {
    return el("span", { class: "sc-swatch sc-share-swatch" + (dashed ? " sc-share-swatch-missing" : ""), style: { background: color } });
  }

  function drawChoropleth(cfg, answer) {
    var T = cfg.text;
    var shapes = {};
    cfg.layers.districts.features.forEach(function (f) { shapes[f.properties.city + "|" + f.properties.adcode] = f; });
    var features = [];
    var unmatched = [];
    var empty = emptyCities(answer);
    answer.rows.forEach(function (row) {
      var shape = shapes[row.city + "|" + row.adcode];
      if (!shape) {
        unmatched.push(row.city + "|" + row.adcode);
        return;
      }
      features.push({ type: "Feature", geometry: shape.geometry, properties: Object.assign({}, shape.properties, { row: row }) });
    });
    var layer = L.geoJSON({ type: "FeatureCollection", features: features }, {
      style: function (feature) {
        var row = feature.properties.row;
        var i = empty[row.city] ? "empty" : shareClass(row);
        return {
          className: "sc-district-fill sc-share-" + (i === -1 ? "none" : i),
          color: "#34495e",
          weight: 0.8,
          opacity: 0.8,
          dashArray: i === "empty" ? "4 3" : null,
          fillColor: i === "empty" ? EMPTY : i < 0 ? NO_DATA : SHARE_CLASSES[i].color,
          fillOpacity: 0.7,
        };
      },
      onEachFeature: function (feature, l) {
        var p = feature.properties;
        var row = p.row;
        l.bindTooltip(el("span", {}, [
          el("strong", { text: p.label }), el("br"),
          T.share + " " + U.percent(row.share) + " · " + T.uncovered + " " + U.number(row.uncovered) +
            (row.estimate ? " · " + T.estimate_badge : "") + (empty[row.city] ? " · " + T.nothing_registered : ""),
        ]), { sticky: true });
      },
    }).addTo(SC.state.map);
    SC.state.choropleth = layer;
    if (SC.state.control) SC.state.control.addOverlay(layer, T.share_legend);
    if (SC.state.outlines) SC.state.outlines.bringToFront();
    document.body.dataset.choropleth = String(layer.getLayers().length);
    document.body.dataset.unmatched = String(unmatched.length);
    return layer;
  }

  function notices(cfg, answer) {
    var out = [];
    Object.keys(answer.notice || {}).forEach(function (k) {
      var n = answer.notice[k];
      var text = typeof n === "string" ? n : n && n[cfg.lang];
      if (text) out.push(el("p", { class: "sc-note sc-note-" + k, dataset: { kind: k }, text: text }));
    });
    return out;
  }

  function renderSummary(cfg, cityAnswer, districtAnswer) {
    var T = cfg.text;
    var box = U.byId("sc-coverage-summary");
    var population = 0;
    var covered = 0;
    cityAnswer.rows.forEach(function (r) { population += r.population; covered += r.covered; });
    var share = population ? covered / population : null;
    box.textContent = "";
    box.dataset.population = String(population);
    box.dataset.covered = String(covered);
    box.dataset.uncovered = String(population - covered);
    box.appendChild(el("h2", {}, [
      T.total + "：" + T.share + " " + U.percent(share),
      cityAnswer.estimate ? " " : null,
      cityAnswer.estimate ? U.estimateBadge() : null,
    ]));
    box.appendChild(el("p", {
      text: U.fmt(T.cities_count, { n: cityAnswer.rows.length }) + " · " + T.population + " " + U.number(population) + " · " +
        T.covered + " " + U.number(covered) + " · " + T.uncovered + " " + U.number(population - covered),
    }));
    notices(cfg, districtAnswer).forEach(function (n) { box.appendChild(n); });
    box.hidden = false;
  }

  function byUncovered(a, b) {
    return b.uncovered - a.uncovered;
  }

  /* A row's name, with the estimate badge under it where its times are straight-line estimates. */
  function nameCell(text, estimate, sub) {
    return el("th", { scope: "row" }, [
      el("span", { translate: "no", text: text }),
      sub ? el("span", { class: "sc-row-sub", translate: "no", text: sub }) : null,
      estimate ? el("br") : null,
      estimate ? U.estimateBadge() : null,
    ]);
  }

  function renderTables(cfg, cityAnswer, districtAnswer) {
    var cBody = U.byId("sc-province-city-table").querySelector("tbody");
    cBody.textContent = "";
    var empty = emptyCities(cityAnswer);
    cityAnswer.rows.slice().sort(byUncovered).forEach(function (r) {
      var info = cityInfo(cfg, r.city);
      cBody.appendChild(el("tr", { dataset: { city: r.city, population: r.population, uncovered: r.uncovered, estimate: r.estimate ? "1" : "0", empty: empty[r.city] ? "1" : "0" } }, [
        nameCell(info ? info.name : r.city_name, r.estimate, empty[r.city] ? cfg.text.nothing_registered : null),
        el("td", { class: "sc-num", text: U.number(r.population) }),
        el("td", { class: "sc-num" + (r.uncovered > 0 ? " sc-gap-text" : ""), text: U.number(r.uncovered) }),
        el("td", { class: "sc-num", text: U.percent(r.share) }),
      ]));
    });
    var names = {};
    cfg.layers.districts.features.forEach(function (f) { names[f.properties.city + "|" + f.properties.adcode] = f.properties.name; });
    var dBody = U.byId("sc-province-district-table").querySelector("tbody");
    dBody.textContent = "";
    // every district an estimate: the summary and the city table say so once, not on each of its rows
    var mixed = districtAnswer.rows.some(function (r) { return !r.estimate; });
    districtAnswer.rows.slice().sort(byUncovered).forEach(function (r) {
      var info = cityInfo(cfg, r.city);
      dBody.appendChild(el("tr", { dataset: { city: r.city, adcode: r.adcode, population: r.population, uncovered: r.uncovered, estimate: r.estimate ? "1" : "0" } }, [
        nameCell(names[r.city + "|" + r.adcode] || r.district, mixed && r.estimate, info ? info.name : r.city_name),
        el("td", { class: "sc-num", text: U.number(r.population) }),
        el("td", { class: "sc-num" + (r.uncovered > 0 ? " sc-gap-text" : ""), text: U.number(r.uncovered) }),
        el("td", { class: "sc-num", text: U.percent(r.share) }),
      ]));
    });
    U.byId("sc-coverage-tables").hidden = false;
  }

  SC.pages["province-coverage"] = function () {
    var cfg = SC.config;
    var T = cfg.text;
    shareLegend(T);
    drawCities(cfg, false);
    U.setStatus(T.loading, "loading");
    var common = { city: cfg.province.key, categories: cfg.category || "all", modes: cfg.mode, thresholds: cfg.minutes, lang: cfg.lang };
    var districts = U.api("/plan/table", Object.assign({ level: "district" }, common));
    var cities = U.api("/plan/table", Object.assign({ level: "city" }, common));
    SC.state.provinceCoverage = Promise.all([districts, cities])
      .then(function (answers) {
        SC.state.provinceAnswers = { district: answers[0], city: answers[1] };
        drawChoropleth(cfg, answers[0]);
        renderSummary(cfg, answers[1], answers[0]);
        renderTables(cfg, answers[1], answers[0]);
        U.setStatus("", "");
      })
      .catch(U.showError);
  };
})();
