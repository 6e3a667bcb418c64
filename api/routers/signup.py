"""Online sign-up (报名) pages for workers: the form, the result with its reference code, cancel and erase.

    ``GET  /signup/{class_id}``                  a class's form (name, mobile, optional note, consent)
    ``POST /signup/{class_id}``                  sign up → 303 to the result page
    ``GET|POST /signup/e/{evaluation_id}``       the same for an evaluation session (技能等级认定)
    ``GET  /signup/r/{reference}``               the result: confirmed / waitlist position / cancelled
    ``GET|POST /signup/r/{reference}/cancel``    cancel, which also erases the name, number and note
    ``GET  /privacy``                            the privacy notice (PIPL)

Chinese first, ``?lang=en`` for English. Every form is CSRF-protected (see :mod:`api.web`) and has a
honeypot field; refusals (bad number, full / cancelled / closed class or session, limits) re-render the form with
a message in the page language and the matching 4xx status, and write nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request, Response
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
    Offer,
    cancel,
    city_today,
    class_problem,
    get_by_reference,
    get_offer,
    new_submission_key,
    offer_deadline,
    offer_ids,
    offer_of,
    sign_up,
    waitlist_position,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["sign-up pages"], include_in_schema=False)
ClassId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EvaluationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Reference = Annotated[str, Path(min_length=1, max_length=40)]
Field = Annotated[str, Form(max_length=400)]


def _offer_context(c: Offer, lang: str) -> dict:
    """What the pages show of a class or an evaluation session (``kind`` picks the card and the wording)."""
    lv = LEVEL_BY_NUMBER[c.level]
    updated = max(c.updated_at, c.resource.updated_at) if c.resource.updated_at else c.updated_at
    context = {
        "c": c,
        "r": c.resource,
        "level_label": lv.label_en if lang == "en" else lv.label_zh,
        "updated": when(updated),
        "retention": get_settings().signup_retention_days,
        "deadline": offer_deadline(c),
    }
    if isinstance(c, TrainingClass):
        zh, en = SCHEDULES[c.schedule]
        return context | {
            "kind": "class",
            "action": f"/signup/{c.id}",
            "schedule_label": en if lang == "en" else zh,
            "first_day": c.start_date,
        }
    return context | {"kind": "evaluation", "action": f"/signup/e/{c.id}", "first_day": c.date}


def _page_error(exc: SkillCircleError, *, back: str | None = None) -> PageError:
    """The error page of a sign-up page: "not found", else "something went wrong"."""
    not_found = exc.status == 404 or exc.code == "not_found"
    heading = ("没有找到", "Not found") if not_found else ("出错了", "Something went wrong")
    return PageError(exc, back=back, heading=heading)


def _get_offer(db: DbSession, *, class_id: int | None = None, evaluation_id: int | None = None) -> Offer:
    try:
        return get_offer(db, class_id=class_id, evaluation_id=evaluation_id)
    except SkillCircleError as exc:
        raise _page_error(exc) from None


def _offer(s: Signup) -> Offer:
    try:
        return offer_of(s)
    except SkillCircleError as exc:
        raise _page_error(exc) from None


def _get_signup(db: DbSession, reference: str) -> Signup:
    try:
        return get_by_reference(db, reference)
    except SkillCircleError as exc:
        raise _page_error(exc) from None


def _form_page(
    request: Request,
    c: Offer,
    lang: str,
    *,
    form: dict | None = None,
    error: SkillCircleError | None = None,
    submission_key: str | None = None,
) -> HTMLResponse:
    closed = class_problem(c, today=city_today(c.city))
    csrf = anonymous_csrf(request)
    context = _offer_context(c, lang) | {
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
    return _form_page(request, _get_offer(db, class_id=class_id), page_lang(request))


@router.get("/signup/e/{evaluation_id}", response_class=HTMLResponse)
def evaluation_signup_form(request: Request, db: DbSession, evaluation_id: EvaluationId) -> HTMLResponse:
    """The sign-up form of an evaluation session (or why it takes no sign-up)."""
    return _form_page(request, _get_offer(db, evaluation_id=evaluation_id), page_lang(request))


@dataclass(frozen=True)
class _SignupForm:
    """The fields a sign-up form posts (each at most 400 characters; the service checks each)."""

    name: str
    mobile: str
    note: str
    consent: bool
    submission_key: str
    csrf_token: str
    website: str  # the honeypot: empty when a person filled the form in


def _signup_form(
    name: Field = "",
    mobile: Field = "",
    note: Field = "",
    consent: Field = "",
    submission_key: Field = "",
    csrf_token: Field = "",
    website: Field = "",
) -> _SignupForm:
    return _SignupForm(name, mobile, note, consent == "yes", submission_key, csrf_token, website)


SignupForm = Annotated[_SignupForm, Depends(_signup_form)]


@router.post("/signup/{class_id}", response_class=HTMLResponse)
def signup_submit(request: Request, db: DbSession, class_id: ClassId, form: SignupForm) -> Response:
    """Sign up for a class; on success redirect (303) to the result page, which a reload cannot submit twice."""
    return _submit(request, db, _get_offer(db, class_id=class_id), form)


@router.post("/signup/e/{evaluation_id}", response_class=HTMLResponse)
def evaluation_signup_submit(
    request: Request, db: DbSession, evaluation_id: EvaluationId, form: SignupForm
) -> Response:
    """Sign up for an evaluation session; on success redirect (303) to the result page."""
    return _submit(request, db, _get_offer(db, evaluation_id=evaluation_id), form)


def _submit(request: Request, db: DbSession, c: Offer, form: _SignupForm) -> Response:
    """One sign-up form submitted: CSRF, the honeypot, then :func:`geo.signups.sign_up`; a refusal
    re-renders the form with its message and status, having written nothing."""
    lang = page_lang(request)
    submission_key = form.submission_key
    try:
        check_csrf(request.cookies.get(CSRF_COOKIE), form.csrf_token)
        if form.website:
            msg = "the form was filled in automatically; please sign up by hand"
            raise InvalidParameterError(msg, message_zh="表单填写异常，请手动填写后提交", code="spam_suspected")
        out = sign_up(
            db,
            **offer_ids(c),
            name=form.name,
            mobile=form.mobile,
            note=form.note,
            consent=form.consent,
            submission_key=submission_key,
            ip=client_ip(request),
        )
    except SkillCircleError as exc:
        db.rollback()
        db.refresh(c)
        shown = {"name": form.name, "mobile": form.mobile, "note": form.note, "consent": form.consent}
        return _form_page(request, c, lang, form=shown, error=exc, submission_key=submission_key or None)
    return RedirectResponse(f"/signup/r/{out.signup.reference}?lang={lang}", status_code=303)


@router.get("/signup/r/{reference}", response_class=HTMLResponse)
def signup_status(request: Request, db: DbSession, reference: Reference) -> HTMLResponse:
    """The worker's sign-up: status, waitlist position, masked number, the cancel link."""
    lang = page_lang(request)
    s = _get_signup(db, reference)
    number = personal.decrypt(s.mobile_enc) if s.mobile_enc else ""
    context = _offer_context(_offer(s), lang) | {
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
    context = _offer_context(_offer(s), lang) | {"s": s, "csrf": csrf, "error": None}
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
