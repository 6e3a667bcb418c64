"""The folium map behind every map page, with all scripts and styles served from ``/static/vendor``.

folium generates the map skeleton: the Leaflet map, the basemap's tile layers (attribution and 审图号),
district boundaries, one ``L.markerClusterGroup`` with a ``L.featureGroup.subGroup`` per category
(clustering across categories, one switchable layer per category) and the layer control. folium's
stock classes point at foreign CDNs (jsdelivr, cdnjs, unpkg, code.jquery.com, bootstrapcdn): the
subclasses below replace every resource with the copy vendored from npm, and the map needs no jQuery,
Bootstrap or icon fonts at all. A small hook element hands the generated Leaflet objects to
``SkillCircle.attach`` in ``/static/map.js``, which fills the markers and does the interactive parts.

The page templates embed the three rendered parts (:class:`MapParts`): header links and styles, the
map ``<div>``, and the script (folium's inline header scripts moved into it), which the page runs
with its CSP nonce.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import Figure, MacroElement
from folium.plugins import FeatureGroupSubGroup, MarkerCluster
from folium.template import Template

from api.maps.basemaps import Basemap
from geo.categories import CATEGORIES, CATEGORY_BY_KEY
from geo.cities import CityPack
from geo.provinces import ProvincePack

log = logging.getLogger(__name__)
# folium's header forbids zooming (user-scalable=no, maximum-scale=1): the pages set their own viewport
_VIEWPORT_META = re.compile(r"<meta[^>]+name=[\"']viewport[\"'][^>]*>", re.IGNORECASE)

VENDOR = "/static/vendor"
LEAFLET_JS = [("leaflet", f"{VENDOR}/leaflet/leaflet.js")]
LEAFLET_CSS = [("leaflet_css", f"{VENDOR}/leaflet/leaflet.css")]
DISTRICT_STYLE = {
    "color": "#34495e",
    "weight": 1.5,
    "opacity": 0.8,
    "fill": True,
    "fillOpacity": 0.02,
    "dashArray": "4 3",
}


class LocalMap(folium.Map):
    """folium.Map loading only our vendored Leaflet (no jQuery, Bootstrap, awesome-markers or fonts)."""

    default_js = LEAFLET_JS
    default_css = LEAFLET_CSS


class LocalMarkerCluster(MarkerCluster):
    """MarkerCluster with leaflet.markercluster from ``/static/vendor``."""

    default_js = [("markerclusterjs", f"{VENDOR}/leaflet.markercluster/leaflet.markercluster.js")]
    default_css = [
        ("markerclustercss", f"{VENDOR}/leaflet.markercluster/MarkerCluster.css"),
        ("markerclusterdefaultcss", f"{VENDOR}/leaflet.markercluster/MarkerCluster.Default.css"),
    ]


class LocalSubGroup(FeatureGroupSubGroup):
    """FeatureGroupSubGroup with leaflet.featuregroup.subgroup from ``/static/vendor``."""

    default_js = [
        ("featuregroupsubgroupjs", f"{VENDOR}/leaflet.featuregroup.subgroup/leaflet.featuregroup.subgroup.js")
    ]


class _Hook(MacroElement):
    """Calls ``SkillCircle.attach(map, layers)`` once folium has created every layer."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            SkillCircle.attach({{ this._parent.get_name() }}, {
                cluster: {{ this.cluster.get_name() if this.cluster else "null" }},
                groups: {
                    {%- for key, group in this.groups.items() %}
                    {{ key|tojson }}: {{ group.get_name() }},
                    {%- endfor %}
                },
                districts: {{ this.districts.get_name() if this.districts else "null" }},
                control: {{ this.control.get_name() }}
            });
        {% endmacro %}
        """
    )

    def __init__(
        self,
        *,
        cluster: MarkerCluster | None,
        groups: dict[str, FeatureGroupSubGroup],
        districts: folium.GeoJson | None,
        control: folium.LayerControl,
    ) -> None:
        super().__init__()
        self._name = "SkillCircleHook"
        self.cluster = cluster
        self.groups = groups
        self.districts = districts
        self.control = control


@dataclass(frozen=True)
class MapParts:
    """The rendered pieces of a folium map, for a page template to place."""

    header: str
    html: str
    script: str
    map_name: str


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _split_inline_scripts(header: str) -> tuple[str, list[str]]:
    """folium's header without its inline ``<script>`` blocks, and their code: the page runs that code
    in its one nonce-carrying script (the CSP allows no other inline script)."""
    return _INLINE_SCRIPT.sub("", header), [m.strip() for m in _INLINE_SCRIPT.findall(header)]


def category_label_html(key: str, *, lang: str, count: int | None = None) -> str:
    """A layer-control label: colour swatch, category name and (optionally) the count."""
    cat = CATEGORY_BY_KEY[key]
    tail = f" <span class='sc-count'>{count}</span>" if count is not None else ""
    return (
        f"<span class='sc-swatch' style='background:{cat.color}'></span>"
        f"<span class='sc-layer-label' data-category='{key}'>{cat.label(lang)}</span>{tail}"
    )


def build_map(
    *,
    city: CityPack | ProvincePack,
    basemap: Basemap,
    lang: str,
    districts: dict[str, Any] | None,
    district_label: str,
    categories: tuple[str, ...] | None,
    counts: dict[str, int] | None = None,
    center: tuple[float, float],
    zoom: int,
) -> MapParts:
    """Render the folium map of a page.

    Parameters
    ----------
    city
        The city or province shown (only used for logging).
    basemap
        Tiles to show (none for ``none``), their attribution and 审图号.
    lang
        Page language (layer labels).
    districts
        District boundaries as GeoJSON already in the basemap's datum, or None.
    district_label
        Name of the district layer in the layer control.
    categories
        Categories that get a marker layer (empty tuple = all six; None = no marker layers, e.g.
        the coverage map).
    counts
        Resources per category, shown in the layer control.
    center
        Initial (lat, lon) in the basemap's datum.
    zoom
        Initial zoom.
    """
    fmap = LocalMap(
        location=list(center),
        zoom_start=zoom,
        tiles=None,
        control_scale=False,  # map.js adds a metric-only scale
        maxZoom=basemap.max_zoom,  # on the map itself: markercluster needs it even without tiles
        minZoom=3,
        prefer_canvas=False,
    )
    for i, layer in enumerate(basemap.layers):
        attr = basemap.attribution if i == 0 else " "
        if i == 0 and basemap.approval:
            attr = f"{basemap.attribution} | {basemap.approval}"
        kwargs: dict[str, Any] = {"subdomains": layer.subdomains} if layer.subdomains else {}
        folium.TileLayer(
            tiles=layer.url,
            attr=attr,
            name=f"{basemap.name}" if i == 0 else f"{basemap.name} ({i})",
            overlay=layer.overlay,
            control=False,
            max_zoom=basemap.max_zoom,
            **kwargs,
        ).add_to(fmap)
    district_layer = None
    if districts is not None:
        district_layer = folium.GeoJson(
            districts,
            name=district_label,
            style_function=lambda _feature: DISTRICT_STYLE,
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False, sticky=False),
            control=True,
            show=True,
            zoom_on_click=False,
        )
        district_layer.add_to(fmap)
    cluster = None
    groups: dict[str, FeatureGroupSubGroup] = {}
    if categories is not None:
        cluster = LocalMarkerCluster(
            control=False,
            options={"showCoverageOnHover": False, "maxClusterRadius": 50, "spiderfyOnMaxZoom": True},
        )
        cluster.add_to(fmap)
        for cat in CATEGORIES:
            if categories and cat.key not in categories:
                continue
            count = counts.get(cat.key) if counts is not None else None
            group = LocalSubGroup(cluster, name=category_label_html(cat.key, lang=lang, count=count), show=True)
            group.add_to(fmap)
            groups[cat.key] = group
    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(fmap)
    fmap.add_child(_Hook(cluster=cluster, groups=groups, districts=district_layer, control=control))
    figure = fmap.get_root()
    assert isinstance(figure, Figure), "a folium map's root is its Figure"
    figure.render()
    header, header_scripts = _split_inline_scripts(figure.header.render())
    parts = MapParts(
        header=_VIEWPORT_META.sub("", header),
        html=figure.html.render(),
        script="\n".join([*header_scripts, figure.script.render()]),
        map_name=fmap.get_name(),
    )
    log.debug("built %s map %s (%d bytes of script)", city.key, parts.map_name, len(parts.script))
    return parts
