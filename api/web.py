"""What the server-rendered forms share (console and public sign-up): templates, language, CSRF, cookies.

CSRF: a form shown to someone not logged in carries the value of the ``sc_csrf`` cookie (HttpOnly,
SameSite=Lax, random) in a hidden field, and a POST is accepted only when both are present and equal
(the double-submit pattern: another site can neither read nor set the cookie). A console form carries
its session's own CSRF token instead (stored with the server-side session). A missing or wrong token
is a 403 ``csrf_failed`` with a bilingual message, and nothing is written.

Cookies are HttpOnly and SameSite=Lax always, and Secure when the request came over https (or the
configured ``base_url`` is https).

Error pages: a browser that opens a page (``Accept`` names ``text/html``, the path is not under
``/api/``) gets every error the route did not answer itself as a small page (``page_error.html``, in
the page language, with the error's code, status and, for 503 and 429, a retry hint) instead of the
API's JSON body: :func:`wants_page` decides, :func:`error_page` renders, and ``api/main.py``'s
exception handlers are the one place that calls them.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.i18n import html_lang, safe_negotiate
from api.security import content_security_policy, frame_ancestors, template_context
from geo.config import get_settings
from geo.errors import DatabaseUnavailableError, ForbiddenError, RateLimitedError, SkillCircleError

TEMPLATES = Jinja2Templates(
    directory=Path(__file__).resolve().parent / "templates", context_processors=[template_context]
)
CSRF_COOKIE = "sc_csrf"
CSRF_FIELD = "csrf_token"
LANG_COOKIE = "sc_lang"


def page_lang(request: Request) -> str:
    """``?lang=``, else the ``sc_lang`` cookie, else ``Accept-Language``, else Chinese."""
    query = request.query_params.get("lang")
    if query in ("zh", "en"):
        return query
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in ("zh", "en"):
        return cookie
    return safe_negotiate(None, request.headers.get("accept-language"))


def is_https(request: Request) -> bool:
    """Whether cookies must be Secure: the request came over https, or the public URL is https."""
    return request.url.scheme == "https" or get_settings().base_url.startswith("https://")


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int | None = None, path: str = "/"
) -> None:
    """Set an HttpOnly, SameSite=Lax cookie (Secure over https)."""
    secure = is_https(request)
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure, path=path)


def anonymous_csrf(request: Request) -> str:
    """The double-submit token of this browser (the ``sc_csrf`` cookie's value, or a new one)."""
    current = request.cookies.get(CSRF_COOKIE)
    if current and 20 <= len(current) <= 100:
        return current
    return secrets.token_urlsafe(24)


def check_csrf(expected: str | None, submitted: str | None) -> None:
    """Raise 403 ``csrf_failed`` unless both tokens are present and equal (constant-time compare)."""
    if not expected or not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        msg = "the form's security token is missing or expired; please reload the page and try again"
        raise ForbiddenError(msg, message_zh="表单安全校验失败或已过期，请刷新页面后重试", code="csrf_failed")


def client_ip(request: Request) -> str | None:
    """The client address (uvicorn's ``--proxy-headers`` resolves X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else None


def when(value: Any, fmt: str = "%Y-%m-%d", *, city: str | None = None) -> str:
    """A stored (UTC) timestamp shown in ``city``'s time zone (default: the default city's); SQLite
    returns naive UTC."""
    from geo.clock import aware, city_zone

    if value is None:
        return ""
    return aware(value).astimezone(city_zone(city or get_settings().default_city)).strftime(fmt)


def tr(lang: str) -> Callable[[str, str], str]:
    """``t("中文", "English")`` in templates: the text in the page language."""

    def t(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    return t


def message(exc: SkillCircleError, lang: str) -> str:
    """An error's message in the page language."""
    return exc.message_en if lang == "en" else exc.message_zh


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    lang: str,
    status_code: int = 200,
    csrf: str | None = None,
) -> HTMLResponse:
    """Render a page template with its language helpers; ``csrf``: the double-submit token to (re)set."""
    other = "en" if lang == "zh" else "zh"
    ctx = {
        "lang": lang,
        "html_lang": html_lang(lang),
        "t": tr(lang),
        "other_lang": other,
        "csrf_field": CSRF_FIELD,
        "path": request.url.path,
        "when": when,
    } | context
    response = TEMPLATES.TemplateResponse(
        request, name, ctx, status_code=status_code, headers={"Cache-Control": "no-store"}
    )
    if request.query_params.get("lang") in ("zh", "en"):
        set_cookie(response, request, LANG_COOKIE, lang, max_age=365 * 86400)
    if csrf is not None:
        set_cookie(response, request, CSRF_COOKIE, csrf)
    return response


class PageError(Exception):
    """A :class:`SkillCircleError` raised while building an HTML page: answered with a page, not JSON.

    ``session_expired`` becomes a redirect to the console's login page. ``heading`` (Chinese, English)
    replaces the page's default heading for the error's status.
    """

    def __init__(
        self, error: SkillCircleError, *, back: str | None = None, heading: tuple[str, str] | None = None
    ) -> None:
        super().__init__(error.message_en)
        self.error = error
        self.back = back
        self.heading = heading


HEADINGS: dict[int, tuple[str, str]] = {
    401: ("需要登录", "Login needed"),
    403: ("没有权限", "Not allowed"),
    404: ("没有找到", "Not found"),
    429: ("请求过于频繁", "Too many requests"),
    500: ("服务器出错了", "Something went wrong on our side"),
    503: ("暂时无法访问", "Temporarily unavailable"),
}


def page_error_response(request: Request, exc: PageError) -> Response:
    """The page (or login redirect) for a :class:`PageError`."""
    if exc.error.code == "session_expired":
        return RedirectResponse("/console/login?expired=1", status_code=303)
    return _error_page(request, exc.error, back=exc.back, heading=exc.heading)


def is_api_path(path: str) -> bool:
    """Whether ``path`` is the API's (``/api/…``), which answers JSON whoever asks."""
    return path == "/api" or path.startswith("/api/")


def wants_page(request: Request) -> bool:
    """Whether an error answer to ``request`` is a page: a browser (its ``Accept`` names ``text/html``)
    opening a path outside the API. Every other client (``fetch`` sends ``*/*``) gets the JSON body."""
    return not is_api_path(request.url.path) and "text/html" in request.headers.get("accept", "")


def retry_after(err: SkillCircleError) -> int | None:
    """The seconds of the ``Retry-After`` header of a 429 or of a lost database's 503 (None for others)."""
    if isinstance(err, RateLimitedError | DatabaseUnavailableError):
        return int(err.details.get("retry_after", 60))
    return None


def wait_text(seconds: int, lang: str) -> str:
    """``seconds`` as the retry hint says it: "10 秒", "2 分钟", "24 小时" (rounded up)."""
    if seconds < 120:
        n, zh, en = seconds, "秒", "second"
    elif seconds < 7200:
        n, zh, en = -(-seconds // 60), "分钟", "minute"
    else:
        n, zh, en = -(-seconds // 3600), "小时", "hour"
    return f"{n} {en}{'s' if n != 1 else ''}" if lang == "en" else f"{n} {zh}"


def _same_site_path(path: str) -> str:
    """``path`` as a link on this site: leading slashes and backslashes collapsed to one slash, so a
    requested ``//other.example/x`` cannot become a protocol-relative link to another host."""
    return "/" + path.lstrip("/\\")


def error_page(request: Request, err: SkillCircleError) -> HTMLResponse:
    """The page a browser gets for an error no route answered itself (see :func:`wants_page`).

    Same status as the JSON answer; the caller adds ``Retry-After``. The page names the error's code,
    says when to try again (503, 429) with a link that reloads the same address, and links home. Its
    Content-Security-Policy is the site's (``/embed`` keeps its portal allow-list, so a portal's
    frame shows the page rather than a blocked frame).
    """
    response = _error_page(request, err, generic=True)
    ancestors = frame_ancestors(get_settings().embed_origins) if request.url.path == "/embed" else "'self'"
    response.headers["Content-Security-Policy"] = content_security_policy(ancestors=ancestors)
    return response


def _error_page(
    request: Request,
    err: SkillCircleError,
    *,
    back: str | None = None,
    heading: tuple[str, str] | None = None,
    generic: bool = False,
) -> HTMLResponse:
    lang = page_lang(request)
    zh, en = heading or HEADINGS.get(err.status, ("无法完成", "Could not be done"))
    path = _same_site_path(request.url.path)
    context: dict[str, Any] = {
        "error": err,
        "error_text": message(err, lang),
        "heading": en if lang == "en" else zh,
        "back": back,
        "path": path,
    }
    if generic:
        seconds = retry_after(err)
        query = request.url.query
        context |= {
            "brand": "SkillCircle" if lang == "en" else "技能圈",
            "home": "/console" if path.startswith("/console") else f"/?lang={lang}",
            "wait": wait_text(seconds, lang) if seconds else None,
            "retry_url": path + (f"?{query}" if query else "") if seconds else None,
        }
    return render(request, "page_error.html", context, lang=lang, status_code=err.status)


MAX_FORM_BYTES = 64 * 1024


async def form_dict(request: Request) -> dict[str, str]:
    """The submitted form as a dict of strings (bounded: 64 KB, 100 fields, no files)."""
    from geo.errors import PayloadTooLargeError

    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError:
        length = MAX_FORM_BYTES + 1
    if length > MAX_FORM_BYTES:
        msg = "the form is larger than 64 KB"
        raise PageError(PayloadTooLargeError(msg, message_zh="提交的表单内容过多（超过 64 KB）"))
    form = await request.form(max_files=0, max_fields=100)
    return {k: str(v)[:4000] for k, v in form.items()}
