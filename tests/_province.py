"""Shared pieces of the province view's tests: the province's members, a page's config, resource counts."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from geo.db import session_scope
from geo.models import Resource
from geo.provinces import load_province, province_cities

PROVINCE = "zhejiang"


def province_members() -> dict[str, object]:
    """The province pack, the keys of its cities with a pack, and the members without one (key → reason)."""
    pack = load_province(PROVINCE)
    found = province_cities(pack)
    return {"pack": pack, "loaded": [c.key for c in found.loaded], "missing": found.missing}


def page_config(html: str) -> dict:
    """The ``sc-config`` JSON a map page hands to its script."""
    raw = re.search(r'<script id="sc-config" type="application/json">(.*?)</script>', html, re.S).group(1)
    return json.loads(raw)


def resource_total(keys: list[str]) -> int:
    """How many resources the registry holds for the cities ``keys``."""
    with session_scope() as s:
        return int(s.scalar(select(func.count(Resource.id)).where(Resource.city.in_(keys))))
