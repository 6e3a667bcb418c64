"""The web console for institutions and the bureau (server-rendered, Chinese first, ``?lang=en``).

    ``GET|POST /console/login``, ``POST /console/logout``
    ``GET /console``                                  home: my institutions (editor) or the city (admin)
    ``GET /console/institutions``                     every institution of the city (admin, reviewer)
    ``GET|POST /console/resources/{id}``              the resource card: view, edit
    ``GET|POST /console/resources/new``               a new institution (admin: created; editor: for review)
    ``GET|POST /console/{classes|evaluations}/new?resource_id=``, ``…/{id}``, ``POST …/{id}/cancel``
    ``GET /console/{classes|evaluations}/{id}/signups[.csv|.xlsx]``  the sign-ups and their export

Every POST carries the session's CSRF token. Writes go through :mod:`geo.editing` (importer rules,
audit log); the bureau's pages (review queue, staleness, accounts, demand) are in ``console_admin``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import CONSOLE_COOKIE, Console, DbSession
from api.forms import Form, checked, ctx, form_errors
from api.services import console
from api.state import get_runtime
from api.web import (
    CSRF_COOKIE,
    PageError,
    anonymous_csrf,
    check_csrf,
    message,
    page_lang,
    render,
    set_cookie,
    when,
)
from geo import personal
from geo.accounts import authenticate, can_edit_resource, can_see_resource, end_session, require_edit
from geo.categories import CATEGORY_BY_KEY
from geo.cities import load_city
from geo.config import get_settings
from geo.editing import (
    EVENT_FORM_FIELDS,
    RESOURCE_FORM_FIELDS,
    cancel_event,
    event_record,
    last_updates,
    propose_resource,
    resource_record,
    save_event,
    save_resource,
)
from geo.errors import ImportValidationError, NotFoundError, SkillCircleError
from geo.models import ConsoleSession, Evaluation, Resource, TrainingClass
from geo.safe_cells import safe_row
from geo.signups import class_signups, live_counts, offer_ids

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
KINDS: dict[str, type[TrainingClass] | type[Evaluation]] = {"classes": TrainingClass, "evaluations": Evaluation}


def _resource(db: Session, cs: ConsoleSession, resource_id: int, *, edit: bool) -> Resource:
    res = db.get(Resource, resource_id)
    if res is None or res.city != cs.account.city:
        msg = f"no institution {resource_id} in your city"
        raise PageError(NotFoundError(msg, message_zh="找不到该机构"))
    if edit or not can_see_resource(cs.account, res):
        try:
            require_edit(db, cs.account, res, what="resource")
        except SkillCircleError as exc:
            raise PageError(exc, back="/console") from None
    return res


def _event(db: Session, cs: ConsoleSession, kind: str, event_id: int) -> Any:
    obj = db.get(TrainingClass, event_id) if KINDS[kind] is TrainingClass else db.get(Evaluation, event_id)
    if obj is None or obj.city != cs.account.city:
        msg = f"no {kind} item {event_id} in your city"
        raise PageError(NotFoundError(msg, message_zh="找不到该班次或评价安排"))
    return obj


# ------------------------------------------------------------------------------------------------ login
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, expired: int = 0) -> HTMLResponse:
    """The login form."""
    lang = page_lang(request)
    csrf = anonymous_csrf(request)
    notice = None
    if expired:
        notice = "登录已过期或尚未登录，请重新登录" if lang == "zh" else "Your session has expired; please log in."
    return render(request, "console_login.html", {"csrf": csrf, "notice": notice, "error": None}, lang=lang, csrf=csrf)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, db: DbSession, form: Form) -> Response:
    """Check the password (lockout after repeated failures) and start a session."""
    lang = page_lang(request)
    try:
        check_csrf(request.cookies.get(CSRF_COOKIE), form.get("csrf_token"))
        result = authenticate(db, username=form.get("username", ""), password=form.get("password", ""))
        db.commit()
    except SkillCircleError as exc:
        csrf = anonymous_csrf(request)
        context = {"csrf": csrf, "notice": None, "error": exc, "error_text": message(exc, lang)}
        context["username"] = form.get("username", "")[:60]
        return render(request, "console_login.html", context, lang=lang, status_code=exc.status, csrf=csrf)
    response = RedirectResponse("/console", status_code=303)
    hours = get_settings().session_hours
    set_cookie(response, request, CONSOLE_COOKIE, result.token, max_age=int(hours * 3600), path="/console")
    return response


@router.post("/logout")
def logout(request: Request, db: DbSession, cs: Console, form: Form) -> Response:
    """End the session."""
    checked(cs, form)
    end_session(db, request.cookies.get(CONSOLE_COOKIE))
    db.commit()
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(CONSOLE_COOKIE, path="/console")
    return response


# ------------------------------------------------------------------------------------------------ home
@router.get("", response_class=HTMLResponse)
def home(request: Request, db: DbSession, cs: Console) -> HTMLResponse:
    """An editor's institutions with their classes; a bureau admin's or reviewer's overview of the city."""
    lang = page_lang(request)
    me = cs.account
    if me.role == "institution_editor":
        return render(request, "console_home.html", ctx(cs, lang, resources=me.resources), lang=lang)
    summary = console.city_summary(db, me.city)
    return render(request, "console_home.html", ctx(cs, lang, resources=[], summary=summary), lang=lang)


@router.get("/institutions", response_class=HTMLResponse)
def institutions(
    request: Request,
    db: DbSession,
    cs: Console,
    q: Annotated[str, Query(max_length=100)] = "",
    category: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
) -> HTMLResponse:
    """Every institution of the city (bureau admins, reviewers), 50 a page, with its last update."""
    lang = page_lang(request)
    if cs.account.role == "institution_editor":
        return home(request, db, cs)
    total, rows = console.institutions_page(
        db, cs.account.city, q=q, category=category if category in CATEGORY_BY_KEY else None, page=page
    )
    latest = last_updates(db, city=cs.account.city)
    context = ctx(
        cs,
        lang,
        rows=rows,
        latest=latest,
        q=q,
        category=category,
        page=page,
        total=total,
        pages=-(-total // console.PAGE_SIZE),
    )
    return render(request, "console_institutions.html", context, lang=lang)


# ------------------------------------------------------------------------------------------------ resources
def _resource_page(
    request: Request, db: Session, cs: ConsoleSession, res: Resource | None, lang: str, **extra: Any
) -> HTMLResponse:
    classes: Sequence[TrainingClass] = []
    evaluations: Sequence[Evaluation] = []
    counts: dict[tuple[int, str], int] = {}
    evaluation_counts: dict[tuple[int, str], int] = {}
    if res is not None:
        classes, evaluations = console.resource_events(db, res)
        counts = live_counts(db, ids=[c.id for c in classes])
        evaluation_counts = live_counts(db, ids=[e.id for e in evaluations], evaluations=True)
    values = extra.pop("values", None) or (resource_record(res) if res is not None else {})
    context = ctx(
        cs,
        lang,
        res=res,
        values=values,
        classes=classes,
        evaluations=evaluations,
        counts=counts,
        evaluation_counts=evaluation_counts,
        can_edit=res is None or can_edit_resource(cs.account, res),
        fields=RESOURCE_FORM_FIELDS,
        **extra,
    )
    return render(request, "console_resource.html", context, lang=lang, status_code=extra.get("status", 200))


@router.get("/resources/new", response_class=HTMLResponse)
def new_resource_form(request: Request, db: DbSession, cs: Console) -> HTMLResponse:
    """The form for a new institution."""
    lang = page_lang(request)
    return _resource_page(request, db, cs, None, lang)


@router.post("/resources/new", response_class=HTMLResponse)
def new_resource(request: Request, db: DbSession, cs: Console, form: Form) -> Response:
    """Create (bureau admin) or propose for review (editor) a new institution."""
    lang = page_lang(request)
    checked(cs, form)
    try:
        result = propose_resource(db, load_city(cs.account.city), account=cs.account, form=form)
        db.commit()
    except SkillCircleError as exc:
        db.rollback()
        errors = form_errors(exc, lang)
        return _resource_page(request, db, cs, None, lang, values=form, errors=errors, status=exc.status)
    get_runtime(cs.account.city).invalidate()
    if result.resource is not None:
        return RedirectResponse(f"/console/resources/{result.resource.id}?saved=1", status_code=303)
    return RedirectResponse("/console?proposed=1", status_code=303)


@router.get("/resources/{resource_id}", response_class=HTMLResponse)
def resource_page(request: Request, db: DbSession, cs: Console, resource_id: Id, saved: int = 0) -> HTMLResponse:
    """An institution's card, classes and evaluations (the edit form if the account may edit it)."""
    lang = page_lang(request)
    res = _resource(db, cs, resource_id, edit=False)
    return _resource_page(request, db, cs, res, lang, saved=saved)


@router.post("/resources/{resource_id}", response_class=HTMLResponse)
def resource_save(request: Request, db: DbSession, cs: Console, resource_id: Id, form: Form) -> Response:
    """Save the card; an editor's change of name, location or category waits for review."""
    lang = page_lang(request)
    checked(cs, form)
    res = _resource(db, cs, resource_id, edit=True)
    try:
        result = save_resource(db, load_city(res.city), account=cs.account, resource=res, form=form)
        db.commit()
    except SkillCircleError as exc:
        db.rollback()
        errors = form_errors(exc, lang)
        return _resource_page(request, db, cs, res, lang, values=form, errors=errors, status=exc.status)
    get_runtime(res.city).invalidate()
    flag = "2" if result.review is not None else "1"
    return RedirectResponse(f"/console/resources/{res.id}?saved={flag}", status_code=303)


# ------------------------------------------------------------------------------------------------ events
def _event_page(
    request: Request, cs: ConsoleSession, kind: str, res: Resource, obj: Any, lang: str, **extra: Any
) -> HTMLResponse:
    values = extra.pop("values", None) or (event_record(obj, kind) if obj is not None else {})
    if obj is not None:
        values.setdefault("seats_left_seen", obj.seats_left)
    context = ctx(cs, lang, kind=kind, res=res, obj=obj, values=values, fields=EVENT_FORM_FIELDS[kind], **extra)
    return render(request, "console_event.html", context, lang=lang, status_code=extra.get("status", 200))


def _save_event(
    request: Request, db: Session, cs: ConsoleSession, kind: str, res: Resource, obj: Any, form: dict, lang: str
) -> Response:
    try:
        saved = save_event(db, load_city(res.city), account=cs.account, kind=kind, resource=res, obj=obj, form=form)
        db.commit()
    except SkillCircleError as exc:
        db.rollback()
        if isinstance(exc, ImportValidationError) or exc.status in (409, 422):
            errors = form_errors(exc, lang)
            return _event_page(request, cs, kind, res, obj, lang, values=form, errors=errors, status=exc.status)
        raise PageError(exc, back=f"/console/resources/{res.id}") from None
    return RedirectResponse(f"/console/{kind}/{saved.id}?saved=1", status_code=303)


ResourceParam = Annotated[int, Query(ge=1, le=2**31 - 1)]


def _event_routes(kind: str) -> None:
    """The same five routes for classes and for evaluations (literal paths: no clash with other pages)."""

    def new_form(request: Request, db: DbSession, cs: Console, resource_id: ResourceParam) -> HTMLResponse:
        lang = page_lang(request)
        res = _resource(db, cs, resource_id, edit=True)
        return _event_page(request, cs, kind, res, None, lang)

    def create(request: Request, db: DbSession, cs: Console, resource_id: ResourceParam, form: Form) -> Response:
        lang = page_lang(request)
        checked(cs, form)
        res = _resource(db, cs, resource_id, edit=True)
        return _save_event(request, db, cs, kind, res, None, form, lang)

    def page(request: Request, db: DbSession, cs: Console, event_id: Id, saved: int = 0) -> HTMLResponse:
        lang = page_lang(request)
        obj = _event(db, cs, kind, event_id)
        res = _resource(db, cs, obj.resource_id, edit=True)
        return _event_page(request, cs, kind, res, obj, lang, saved=saved)

    def save(request: Request, db: DbSession, cs: Console, event_id: Id, form: Form) -> Response:
        lang = page_lang(request)
        checked(cs, form)
        obj = _event(db, cs, kind, event_id)
        res = _resource(db, cs, obj.resource_id, edit=True)
        return _save_event(request, db, cs, kind, res, obj, form, lang)

    def cancel(db: DbSession, cs: Console, event_id: Id, form: Form) -> Response:
        checked(cs, form)
        obj = _event(db, cs, kind, event_id)
        try:
            cancel_event(db, account=cs.account, kind=kind, obj=obj)
            db.commit()
        except SkillCircleError as exc:
            raise PageError(exc, back="/console") from None
        return RedirectResponse(f"/console/{kind}/{obj.id}?saved=1", status_code=303)

    router.add_api_route(f"/{kind}/new", new_form, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(f"/{kind}/new", create, methods=["POST"], response_class=HTMLResponse)
    router.add_api_route(f"/{kind}/{{event_id}}", page, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(f"/{kind}/{{event_id}}", save, methods=["POST"], response_class=HTMLResponse)
    router.add_api_route(f"/{kind}/{{event_id}}/cancel", cancel, methods=["POST"])


for _k in KINDS:
    _event_routes(_k)


# ------------------------------------------------------------------------------------------------ sign-ups
Offer = TrainingClass | Evaluation


def _signup_rows(db: Session, cs: ConsoleSession, c: Offer, lang: str) -> tuple[list[dict], bool]:
    """The class's (or session's) sign-ups; full numbers only for its own institution (editor), else masked."""
    reveal = cs.account.role == "institution_editor" and can_edit_resource(cs.account, c.resource)
    rows = []
    for i, s in enumerate(class_signups(db, **offer_ids(c)), start=1):
        number = personal.decrypt(s.mobile_enc)
        rows.append(
            {
                "n": i,
                "status": s.status,
                "status_label": _STATUS[s.status][1 if lang == "en" else 0],
                "name": s.name,
                "mobile": number if reveal else personal.mask_mobile(number),
                "note": s.note or "",
                "created": when(s.created_at, "%Y-%m-%d %H:%M"),
            }
        )
    return rows, reveal


_STATUS = {
    "confirmed": ("已确认", "confirmed"),
    "waitlisted": ("候补", "waitlisted"),
    "cancelled": ("已取消", "cancelled"),
}


def _signup_offer(db: Session, cs: ConsoleSession, kind: str, oid: int) -> Offer:
    c = _event(db, cs, kind, oid)
    if not can_see_resource(cs.account, c.resource):
        try:
            require_edit(db, cs.account, c.resource, what="signups")
        except SkillCircleError as exc:
            raise PageError(exc, back="/console") from None
    return c


def _signups_page(request: Request, db: Session, cs: ConsoleSession, kind: str, oid: int) -> HTMLResponse:
    lang = page_lang(request)
    c = _signup_offer(db, cs, kind, oid)
    rows, reveal = _signup_rows(db, cs, c, lang)
    context = ctx(cs, lang, c=c, kind=kind, rows=rows, reveal=reveal)
    return render(request, "console_signups.html", context, lang=lang)


@router.get("/classes/{class_id}/signups", response_class=HTMLResponse)
def signups_page(request: Request, db: DbSession, cs: Console, class_id: Id) -> HTMLResponse:
    """A class's sign-ups: confirmed, then the waitlist in order."""
    return _signups_page(request, db, cs, "classes", class_id)


@router.get("/evaluations/{evaluation_id}/signups", response_class=HTMLResponse)
def evaluation_signups_page(request: Request, db: DbSession, cs: Console, evaluation_id: Id) -> HTMLResponse:
    """An evaluation session's sign-ups: confirmed, then the waitlist in order."""
    return _signups_page(request, db, cs, "evaluations", evaluation_id)


_EXPORT_HEADER = {
    "zh": ["序号", "状态", "姓名", "手机号码", "备注", "报名时间"],
    "en": ["No.", "Status", "Name", "Mobile", "Note", "Signed up"],
}


@router.get("/classes/{class_id}/signups.{fmt}")
def signups_export(request: Request, db: DbSession, cs: Console, class_id: Id, fmt: str) -> Response:
    """The class's sign-ups as CSV (UTF-8 with BOM, opens in Excel/WPS) or XLSX; every cell formula-safe."""
    return _signups_export(request, db, cs, "classes", class_id, fmt)


@router.get("/evaluations/{evaluation_id}/signups.{fmt}")
def evaluation_signups_export(request: Request, db: DbSession, cs: Console, evaluation_id: Id, fmt: str) -> Response:
    """An evaluation session's sign-ups as CSV or XLSX, as a class's."""
    return _signups_export(request, db, cs, "evaluations", evaluation_id, fmt)


def _signups_export(request: Request, db: Session, cs: ConsoleSession, kind: str, oid: int, fmt: str) -> Response:
    lang = page_lang(request)
    if fmt not in ("csv", "xlsx"):
        raise PageError(NotFoundError(f"no export format {fmt!r}", message_zh="不支持该导出格式"))
    c = _signup_offer(db, cs, kind, oid)
    rows, reveal = _signup_rows(db, cs, c, lang)
    table = [_EXPORT_HEADER[lang]] + [
        [r["n"], r["status_label"], r["name"], r["mobile"], r["note"], r["created"]] for r in rows
    ]
    noun = "class" if kind == "classes" else "evaluation"
    if c.is_sample:
        what = "班次" if noun == "class" else "评价场次"
        table.append([f"示例数据：该{what}为样例，不是真实机构 / Sample data: not a real institution"])
    console.audit_signup_export(
        db, actor=cs.account.username, class_id=c.id, rows=len(rows), fmt=fmt, full_numbers=reveal, kind=noun
    )
    db.commit()
    name = f"signups-{noun}-{c.id}.{fmt}"
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", "Cache-Control": "no-store"}
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        for row in table:
            writer.writerow(safe_row(row))
        return Response(
            ("\ufeff" + buf.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers
        )
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.worksheets[0]
    ws.title = "报名" if lang == "zh" else "signups"
    for row in table:
        ws.append(safe_row(row))
    out = io.BytesIO()
    wb.save(out)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(out.getvalue(), media_type=media, headers=headers)
