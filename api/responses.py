"""``OrjsonResponse``: JSON answers written by orjson, for the hot routes that build their own body.

FastAPI already writes a ``response_model`` answer with pydantic's Rust serialiser, after validating
the returned value against the model; a route that returns this response skips both (it must then
build exactly the documented schema itself: ``/nearby`` does, with records serialised once per
registry version as ``orjson.Fragment``). A plain ``dict`` answer (the isochrones' GeoJSON) otherwise
goes through ``jsonable_encoder`` and ``json.dumps``, both much slower than orjson on big bodies.
FastAPI's own ``ORJSONResponse`` is deprecated, and an app-wide ``default_response_class`` would turn
off FastAPI's fast path for every ``response_model`` route, so it is used per route.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class OrjsonResponse(JSONResponse):
    """``application/json`` written by orjson (numpy arrays and scalars allowed; NaN becomes null)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)
