"""Online sign-up (报名) pages for workers: the form, the result with its reference code, cancel and erase.

    ``GET  /signup/{class_id}``                  the form (name, mobile, optional note, consent)
    ``POST /signup/{class_id}``                  sign up → 303 to the result page
    ``GET  /signup/r/{reference}``               the result: confirmed / waitlist position / cancelled
    ``GET|POST /signup/r/{reference}/cancel``    cancel, which also erases the name, number and note
    ``GET  /privacy``                            the privacy notice (PIPL)

Chinese first, ``?lang=en`` for English. Every form is CSRF-protected (see :mod:`api.web`) and has a
honeypot field; refusals (bad number, full / cancelled / closed class, limits) re-render the form with
a message in the page language and the matching 4xx status, and write nothing.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import DbSession
from api.web import (
    CSRF_COOKIE,
    PageError,
    anonymous_csrf,
    check_csrf,
    client_ip,
    message,
    page_lang,
    render,
    retry_after,
    when,
)
from geo import personal
from geo.categories import LEVEL_BY_NUMBER, SCHEDULES
from geo.config import get_settings
from geo.errors import InvalidParameterError, SkillCircleError
from geo.models import Signup, TrainingClass
from geo.signups import (
    CONSENT_VERSION,
    cancel,
    city_today,
    class_problem,
    get_by_reference,
    new_submission_key,
    sign_up,
    waitlist_position,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["sign-up pages"], include_in_schema=False)
ClassId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Reference = Annotated[str, Path(min_length=1, max_length=40)]
Field = Annotated[str, Form(max_length=400)]


def _class_context(c: TrainingClass, lang: str) -> dict:
    lv = LEVEL_BY_NUMBER[c.level]
    zh, en = SCHEDULES[c.schedule]
    updated = max(c.updated_at, c.resource.updated_at) if c.resource.updated_at else c.updated_at
    return {
        "c": c,
        "r": c.resource,
        "level_label": lv.label_en if lang == "en" else lv.label_zh,
        "schedule_label": en if lang == "en" else zh,
        "updated": when(updated),
        "retention": get_settings().signup_retention_days,
    }


def _page_error(exc: SkillCircleError, *, back: str | None = None) -> PageError:
    """The error page of a sign-up page: "not found", else "something went wrong"."""
    not_found = exc.status == 404 or exc.code == "not_found"
    heading = ("没有找到", "Not found") if not_found else ("出错了", "Something went wrong")
    return PageError(exc, back=back, heading=heading)


def _get_class(db: DbSession, class_id: int) -> TrainingClass:
    c = db.get(TrainingClass, class_id)
    if c is None:
        msg = f"no class with id {class_id}"
        exc = SkillCircleError(msg, message_zh="找不到该班次，可能已被删除", code="class_not_found", status=404)
        raise _page_error(exc)
    return c


def _get_signup(db: DbSession, reference: str) -> Signup:
    try:
        return get_by_reference(db, reference)
    except SkillCircleError as exc:
        raise _page_error(exc) from None


def _form_page(
    request: Request,
    c: TrainingClass,
    lang: str,
    *,
    form: dict | None = None,
    error: SkillCircleError | None = None,
    submission_key: str | None = None,
) -> HTMLResponse:
    closed = class_problem(c, today=city_today(c.city))
    csrf = anonymous_csrf(request)
    context = _class_context(c, lang) | {
        "form": form or {},
        "error": error,
        "error_text": message(error, lang) if error else "",
        "closed": closed,
        "closed_text": message(closed, lang) if closed else "",
        "csrf": csrf,
        "submission_key": submission_key or new_submission_key(),
    }
    status = error.status if error else 200
    response = render(request, "signup_form.html", context, lang=lang, status_code=status, csrf=csrf)
    if error is not None and (seconds := retry_after(error)) is not None:  # a sign-up limit: when to come back
        response.headers["Retry-After"] = str(seconds)
    return response


@router.get("/signup/{class_id}", response_class=HTMLResponse)
def signup_form(request: Request, db: DbSession, class_id: ClassId) -> HTMLResponse:
    """The sign-up form of a class (or why it takes no sign-up)."""
    return _form_page(request, _get_class(db, class_id), page_lang(request))


@router.post("/signup/{class_id}", response_class=HTMLResponse)
def signup_submit(
    request: Request,
    db: DbSession,
    class_id: ClassId,
    name: Field = "",
    mobile: Field = "",
    note: Field = "",
    consent: Field = "",
    submission_key: Field = "",
    csrf_token: Field = "",
    website: Field = "",
) -> Response:
    """Sign up; on success redirect (303) to the result page, which a reload cannot submit twice."""
    lang = page_lang(request)
    c = _get_class(db, class_id)
    form = {"name": name, "mobile": mobile, "note": note, "consent": consent == "yes"}
    try:
        check_csrf(request.cookies.get(CSRF_COOKIE), csrf_token)
        if website:
            msg = "the form was filled in automatically; please sign up by hand"
            raise InvalidParameterError(msg, message_zh="表单填写异常，请手动填写后提交", code="spam_suspected")
        out = sign_up(
            db,
            class_id=class_id,
            name=name,
            mobile=mobile,
            note=note,
            consent=consent == "yes",
            submission_key=submission_key,
            ip=client_ip(request),
        )
    except SkillCircleError as exc:
        db.rollback()
        db.refresh(c)
        return _form_page(request, c, lang, form=form, error=exc, submission_key=submission_key or None)
    return RedirectResponse(f"/signup/r/{out.signup.reference}?lang={lang}", status_code=303)


@router.get("/signup/r/{reference}", response_class=HTMLResponse)
def signup_status(request: Request, db: DbSession, reference: Reference) -> HTMLResponse:
    """The worker's sign-up: status, waitlist position, masked number, the cancel link."""
    lang = page_lang(request)
    s = _get_signup(db, reference)
    number = personal.decrypt(s.mobile_enc) if s.mobile_enc else ""
    context = _class_context(s.training_class, lang) | {
        "s": s,
        "position": waitlist_position(db, s) or 0,
        "masked": personal.mask_mobile(number) if number else "",
    }
    return render(request, "signup_status.html", context, lang=lang)


@router.get("/signup/r/{reference}/cancel", response_class=HTMLResponse)
def cancel_form(request: Request, db: DbSession, reference: Reference) -> HTMLResponse:
    """Ask to confirm the cancellation (a GET never changes anything)."""
    lang = page_lang(request)
    s = _get_signup(db, reference)
    csrf = anonymous_csrf(request)
    context = {"s": s, "c": s.training_class, "csrf": csrf, "error": None}
    return render(request, "signup_cancel.html", context, lang=lang, csrf=csrf)


@router.post("/signup/r/{reference}/cancel", response_class=HTMLResponse)
def cancel_submit(request: Request, db: DbSession, reference: Reference, csrf_token: Field = "") -> Response:
    """Cancel and erase, then show the (now cancelled) sign-up."""
    lang = page_lang(request)
    try:
        s = get_by_reference(db, reference)
        check_csrf(request.cookies.get(CSRF_COOKIE), csrf_token)
        cancel(db, reference=reference)
    except SkillCircleError as exc:
        raise _page_error(exc, back=f"/signup/r/{reference}?lang={lang}") from None
    return RedirectResponse(f"/signup/r/{s.reference}?lang={lang}", status_code=303)


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request) -> HTMLResponse:
    """The privacy notice workers consent to (PIPL)."""
    lang = page_lang(request)
    context = {"version": CONSENT_VERSION, "retention": get_settings().signup_retention_days}
    return render(request, "privacy.html", context, lang=lang)
