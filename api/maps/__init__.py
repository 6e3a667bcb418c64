"""The service's maps: the public 30-minute circle map, the planners' coverage-gap map and the portal embed.

Pages are generated server-side with folium (map skeleton, tile layers, district boundaries, the
marker cluster with one sub-group per category, layer control) and completed in the browser by
``/static/map.js``, which fills the markers and talks to the public API (resource cards, isochrones,
nearby, coverage). Every script and style is served by the service itself (``/static/vendor/...``,
vendored from npm by ``scripts/vendor.sh``): a page loads nothing from another host except the
basemap's tile images, and nothing at all with the ``none`` basemap.

Modules:

- :mod:`api.maps.basemaps` — basemap providers from ``data/basemaps.toml`` (OSM, Tianditu, Amap, none);
- :mod:`api.maps.params` — parsing and validating page parameters (bad input → stable 4xx codes);
- :mod:`api.maps.overlays` — server-side overlay data (resources, districts) in the basemap's datum;
- :mod:`api.maps.builder` — the folium map and the pieces a page template embeds;
- :mod:`api.maps.embed` — the portal pages: a province's ``/embed`` and the ``/embed/snippet`` generator;
- :mod:`api.maps.province` — the province view's pages (every member city, simplified polygons);
- :mod:`api.maps.province_params` — the province pages' parameters (the city pages' 4xx codes);
- :mod:`api.maps.text` — the pages' Chinese and English wording.
"""
