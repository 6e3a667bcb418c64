"""Form helpers shared by the console's pages (:mod:`api.routers.console`, :mod:`api.routers.console_admin`).

The parsed form as a dependency, the session's CSRF check, the context every console page renders
with, and an error as lines for a form page in the page's language.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from api.web import PageError, check_csrf, form_dict, message
from geo.accounts import role_label
from geo.categories import CATEGORY_BY_KEY, LEVEL_BY_NUMBER, SCHEDULES
from geo.errors import ImportValidationError, SkillCircleError
from geo.models import ConsoleSession

Form = Annotated[dict[str, str], Depends(form_dict)]


def ctx(cs: ConsoleSession, lang: str, **extra: Any) -> dict[str, Any]:
    """What every console page needs: me, my role, the CSRF token, label helpers."""
    return {
        "me": cs.account,
        "role": role_label(cs.account.role, lang),
        "csrf": cs.csrf_token,
        "categories": [(k, c.label(lang)) for k, c in CATEGORY_BY_KEY.items()],
        "levels": [(n, lv.label_en if lang == "en" else lv.label_zh) for n, lv in LEVEL_BY_NUMBER.items()],
        "schedules": [(k, en if lang == "en" else zh) for k, (zh, en) in SCHEDULES.items()],
        "level_label": lambda n: LEVEL_BY_NUMBER[n].label_en if lang == "en" else LEVEL_BY_NUMBER[n].label_zh,
        "category_label": lambda k: CATEGORY_BY_KEY[k].label(lang) if k in CATEGORY_BY_KEY else k,
    } | extra


def checked(cs: ConsoleSession, form: dict[str, str]) -> None:
    """A console POST must carry the session's CSRF token."""
    try:
        check_csrf(cs.csrf_token, form.get("csrf_token"))
    except SkillCircleError as exc:
        raise PageError(exc) from None


def form_errors(exc: SkillCircleError, lang: str) -> list[str]:
    """An importer report (or any error) as lines for the form page, in the page language."""
    errors = exc.details.get("errors") if isinstance(exc, ImportValidationError) else None
    if not errors:
        return [message(exc, lang)]
    key = "message_en" if lang == "en" else "message_zh"
    return [f"{e['column']}: {e[key]}" if e.get("column") else e[key] for e in errors]
