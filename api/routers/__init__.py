"""Every router of the service, listed explicitly so a reader finds each one with grep.

One module per resource (as in FastAPI's full-stack template). Routers are thin: queries and audited
writes live in :mod:`api.services`, shared request parameters in :mod:`api.params`. A new endpoint
group is a new module here plus one line in :data:`ROUTERS`; the order is the order routes are
matched in.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routers import (
    admin,
    console,
    console_admin,
    coverage,
    docs,
    events,
    health,
    jobs,
    maps,
    nearby,
    plan,
    resources,
    signup,
    skillcodes,
    skillcodes_admin,
)

ROUTERS: list[APIRouter] = [
    admin.router,
    console.router,
    console_admin.router,
    coverage.router,
    docs.router,
    events.router,
    health.router,
    jobs.router,
    maps.router,
    nearby.router,
    plan.router,
    resources.router,
    signup.router,
    skillcodes.router,
    skillcodes_admin.router,
]
