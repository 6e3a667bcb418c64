"""``/api/v1/coverage``: how many residents live within N minutes of a category, per district, town and cell.

The answer (the map's ``/map/coverage`` page is built on exactly this shape)::

    {city, category, mode, minutes, estimate, sample, notice,
     total: {population, covered, share},
     districts: [{adcode, name, population, covered, uncovered, share}],
     towns: [{district, name, population, covered, uncovered, share, approximate}],
     grid: null | GeoJSON FeatureCollection of H3 cells,
           properties {h3, population, minutes (null when unreachable), covered, district, town}}

``minutes`` of a cell is rounded *up* to 0.1 min, so ``minutes <= threshold`` exactly when ``covered``.

Models and encoded answers are computed and cached by :mod:`api.services.coverage` (per city,
category, mode, minutes, grid resolution and resources version; bounded by bytes).

A grid finer than the city's default (``resolution`` above it) needs an API token with scope
``plan:heavy`` (401 ``token_required`` without one): it multiplies the cells, time and answer by 7.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from api.deps import Bearer, DbSession, Runtime
from api.params import CategoryParam, MinutesParam, ResolutionParam, geojson_to_crs
from api.schemas import Crs, ErrorResponse, Mode
from api.services.coverage import checked_model, coverage_answer
from planning.params import parse_category_or_all

router = APIRouter(
    prefix="/api/v1",
    tags=["planning"],
    responses={
        401: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)


@router.get("/coverage", summary="Population within N minutes of a category, per district, town and H3 cell")
def coverage(
    db: DbSession,
    runtime: Runtime,
    token: Bearer,
    category: CategoryParam = "all",
    mode: Mode = "ebike",
    minutes: MinutesParam = 30,
    grid: Annotated[bool, Query(description="include the H3 cell grid as GeoJSON")] = False,
    resolution: ResolutionParam = None,
    crs: Annotated[Crs, Query(description="crs of the grid's coordinates")] = "wgs84",
) -> Response:
    """Covered population (residents whose time to the nearest resource of the category is ≤ ``minutes``)
    in total, per district and per town (towns are approximate Voronoi areas), and optionally per H3 cell.

    ``estimate: true`` when the mode has no road network (straight-line × detour factor); ``sample: true``
    when the resources are a labelled sample. Population is the 2020 census per district spread over the
    grid by a documented proxy (see ``notice.population``)."""
    cat = parse_category_or_all(category)
    model = checked_model(db, runtime, secret=token, resolution=resolution)
    data = coverage_answer(model, cat, mode=mode, minutes=minutes, grid=grid)
    if grid and crs != "wgs84":
        answer = json.loads(data)  # a private copy to convert
        answer["grid"] = geojson_to_crs(answer["grid"], crs)
        return JSONResponse(answer)
    return Response(content=data, media_type="application/json")
