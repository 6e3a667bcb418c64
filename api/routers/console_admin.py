"""The bureau's console pages and the planners' demand figures.

    ``GET /console/review``, ``POST /console/review/{id}``     the review queue (admins, reviewers)
    ``GET /console/stale``                                    institutions with nothing updated in 30 days
    ``GET|POST /console/accounts``, ``POST /console/accounts/{id}/{reset|disable|enable}``  (admins)
    ``GET /console/demand``                                   sign-ups and waitlists per class, skill, district
    ``GET /api/v1/admin/demand``                              the same as JSON (token scope ``admin``)

Demand shows counts only, never a name or a number.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import City, Console, DbSession, require_scope
from api.forms import Form, checked, ctx, form_errors
from api.schemas import ErrorResponse
from api.services.console import pending_reviews
from api.state import get_runtime
from api.web import PageError, page_lang, render
from geo.accounts import ROLES, create_account, list_accounts, require_role, reset_password, set_disabled
from geo.cities import load_city
from geo.editing import decide_review, stale_resources
from geo.errors import NotFoundError, SkillCircleError
from geo.models import Account, ApiToken
from geo.signup_demand import demand, demand_totals, evaluation_demand

router = APIRouter(tags=["console"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _role(cs: Any, *roles: str) -> None:
    try:
        require_role(cs.account, *roles)
    except SkillCircleError as exc:
        raise PageError(exc, back="/console") from None


@router.get("/console/review", response_class=HTMLResponse, include_in_schema=False)
def review_queue(request: Request, db: DbSession, cs: Console) -> HTMLResponse:
    """Pending new institutions and held edits (name, location, category), oldest first."""
    lang = page_lang(request)
    _role(cs, "bureau_admin", "reviewer")
    items, current = pending_reviews(db, cs.account.city)
    return render(request, "console_review.html", ctx(cs, lang, items=items, current=current), lang=lang)


@router.post("/console/review/{item_id}", include_in_schema=False)
def review_decide(request: Request, db: DbSession, cs: Console, item_id: Id, form: Form) -> Response:
    """Approve (applied after the importer's checks again) or reject."""
    checked(cs, form)
    _role(cs, "bureau_admin", "reviewer")
    try:
        decide_review(
            db,
            load_city(cs.account.city),
            account=cs.account,
            item_id=item_id,
            approve=form.get("decision") == "approve",
        )
        db.commit()
    except SkillCircleError as exc:
        db.rollback()
        raise PageError(exc, back="/console/review") from None
    get_runtime(cs.account.city).invalidate()
    return RedirectResponse("/console/review", status_code=303)


@router.get("/console/stale", response_class=HTMLResponse, include_in_schema=False)
def stale(
    request: Request, db: DbSession, cs: Console, days: Annotated[int, Query(ge=1, le=3650)] = 30
) -> HTMLResponse:
    """Institutions whose card, classes and evaluations were all last updated more than ``days`` ago."""
    lang = page_lang(request)
    _role(cs, "bureau_admin", "reviewer")
    rows = stale_resources(db, city=cs.account.city, days=days)
    return render(request, "console_stale.html", ctx(cs, lang, rows=rows, days=days), lang=lang)


def _accounts_page(request: Request, db: DbSession, cs: Any, lang: str, **extra: Any) -> HTMLResponse:
    accounts = list_accounts(db, city=cs.account.city)
    context = ctx(cs, lang, accounts=accounts, roles=list(ROLES), **extra)
    return render(request, "console_accounts.html", context, lang=lang, status_code=extra.get("status", 200))


@router.get("/console/accounts", response_class=HTMLResponse, include_in_schema=False)
def accounts(request: Request, db: DbSession, cs: Console) -> HTMLResponse:
    """The city's accounts and the form to add one (bureau admins)."""
    lang = page_lang(request)
    _role(cs, "bureau_admin")
    return _accounts_page(request, db, cs, lang)


@router.post("/console/accounts", response_class=HTMLResponse, include_in_schema=False)
def account_create(request: Request, db: DbSession, cs: Console, form: Form) -> HTMLResponse:
    """Create an account in the admin's city; its first password is shown once."""
    lang = page_lang(request)
    checked(cs, form)
    _role(cs, "bureau_admin")
    try:
        ids = [int(x) for x in form.get("resource_ids", "").replace("，", ",").split(",") if x.strip()]
        account = create_account(
            db,
            username=form.get("username", "").strip(),
            password=form.get("password", ""),
            role=form.get("role", ""),
            city=cs.account.city,
            display_name=form.get("display_name", ""),
            resource_ids=ids,
            actor=cs.account.username,
        )
        db.commit()
    except ValueError:
        db.rollback()
        err = ["机构编号须为逗号分隔的数字" if lang == "zh" else "resource ids must be numbers separated by commas"]
        return _accounts_page(request, db, cs, lang, errors=err, values=form, status=422)
    except SkillCircleError as exc:
        db.rollback()
        return _accounts_page(request, db, cs, lang, errors=form_errors(exc, lang), values=form, status=exc.status)
    return _accounts_page(request, db, cs, lang, created=account.username)


@router.post("/console/accounts/{account_id}/{action}", response_class=HTMLResponse, include_in_schema=False)
def account_action(
    request: Request, db: DbSession, cs: Console, account_id: Id, action: str, form: Form
) -> HTMLResponse:
    """Reset a password (the new one is shown once), or disable / enable an account."""
    lang = page_lang(request)
    checked(cs, form)
    _role(cs, "bureau_admin")
    target = db.get(Account, account_id)
    if target is None or target.city != cs.account.city or action not in ("reset", "disable", "enable"):
        raise PageError(NotFoundError("no such account or action", message_zh="找不到该账号或操作"))
    extra: dict[str, Any] = {}
    if action == "reset":
        extra["temporary"] = (target.username, reset_password(db, username=target.username, actor=cs.account.username))
    else:
        set_disabled(db, username=target.username, disabled=action == "disable", actor=cs.account.username)
    db.commit()
    return _accounts_page(request, db, cs, lang, **extra)


@router.get("/console/demand", response_class=HTMLResponse, include_in_schema=False)
def demand_page(request: Request, db: DbSession, cs: Console) -> HTMLResponse:
    """Where sign-ups exceed seats: per class, skill and district, and per evaluation session (counts only)."""
    lang = page_lang(request)
    _role(cs, "bureau_admin", "reviewer")
    rows = demand(db, city=cs.account.city)
    context = ctx(
        cs,
        lang,
        rows=rows,
        evaluations=evaluation_demand(db, city=cs.account.city),
        by_skill=demand_totals(rows, by="skill"),
        by_district=demand_totals(rows, by="district"),
    )
    return render(request, "console_demand.html", context, lang=lang)


@router.get(
    "/api/v1/admin/demand",
    tags=["planning"],
    summary="Sign-up demand per class, skill and district",
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)
def demand_json(
    db: DbSession, city: City, token: Annotated[ApiToken, Depends(require_scope("admin"))]
) -> dict[str, Any]:
    """Counts of confirmed and waitlisted sign-ups of every class not yet ended and every evaluation
    session not yet held; no personal data."""
    rows = demand(db, city=city.key)
    evaluations = [
        {
            "evaluation_id": r.evaluation_id,
            "resource_id": r.resource_id,
            "resource_name": r.resource_name,
            "district": r.district,
            "skill": r.skill,
            "level": r.level,
            "date": r.date.isoformat(),
            "seats_left": r.seats_left,
            "confirmed": r.confirmed,
            "waitlisted": r.waitlisted,
            "demand_exceeds_seats": r.waitlisted > 0,
        }
        for r in evaluation_demand(db, city=city.key)
    ]
    classes = [
        {
            "class_id": r.class_id,
            "resource_id": r.resource_id,
            "resource_name": r.resource_name,
            "district": r.district,
            "skill": r.skill,
            "start_date": r.start_date.isoformat(),
            "seats_total": r.seats_total,
            "seats_left": r.seats_left,
            "confirmed": r.confirmed,
            "waitlisted": r.waitlisted,
            "demand_exceeds_seats": r.waitlisted > 0,
        }
        for r in rows
    ]
    return {
        "city": city.key,
        "classes": classes,
        "evaluations": evaluations,
        "by_skill": demand_totals(rows, by="skill"),
        "by_district": demand_totals(rows, by="district"),
    }
