"""Security headers on every response, and the per-request script nonce of the HTML pages.

Every response gets ``X-Content-Type-Options: nosniff`` and a ``Referrer-Policy``. Every HTML page
gets a Content-Security-Policy whose ``script-src`` has no ``'unsafe-inline'``: scripts come from
this service's files, and the few inline scripts the pages need (folium's generated map script, the
page start-up calls) carry this request's nonce (``{{ csp_nonce }}`` in the templates). A page that
sets its own policy (the map pages: tile hosts, the ``/embed`` frame-ancestors allow-list) keeps it,
and this middleware adds the nonce to its ``script-src``. Any other HTML answer (the skill-code
pages and their error pages, ``/docs``) gets the default policy, which only this site may frame.
Non-HTML answers get ``default-src 'none'; frame-ancestors 'none'``. The one answer Starlette sends
from outside every middleware, the 500 of an unexpected error, gets the same headers from
:func:`add_security_headers`.

A pure ASGI middleware, so static files and streamed answers get the headers too. The nonce is made
when it is first needed (a template asks for it, or an HTML answer starts): a JSON answer costs no
random bytes.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
REFERRER_POLICY = "strict-origin-when-cross-origin"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
_ORIGIN_RE = re.compile(r"^https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d{1,5})?$")


def content_security_policy(
    *, img_origins: tuple[str, ...] = (), ancestors: str = "'self'", nonce: str | None = None
) -> str:
    """A page's policy: everything from this service, images also from ``img_origins``, framed only
    by ``ancestors``; inline scripts only with ``nonce`` (the middleware adds this request's nonce)."""
    scripts = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    images = " ".join(["'self'", "data:", *img_origins])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "script-src-attr 'none'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "connect-src 'self'",
            "frame-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def frame_ancestors(origins: list[str]) -> str:
    """The CSP ``frame-ancestors`` source list: ``'self'`` plus every well-formed allowed origin.

    Malformed entries (anything but ``scheme://host[:port]``, optionally ``*.`` wildcard host) are
    skipped with a warning, so a typo in the settings cannot inject other CSP directives.
    """
    valid = []
    for origin in origins:
        value = str(origin).strip().rstrip("/")
        if _ORIGIN_RE.match(value):
            valid.append(value)
        else:
            log.warning("ignoring malformed embed origin %r in settings.embed_origins", origin)
    return " ".join(["'self'", *dict.fromkeys(valid)])


def add_security_headers(response: Response) -> Response:
    """Give ``response`` the headers :class:`SecurityHeadersMiddleware` would add (those it lacks).

    For the 500 answer of an unexpected error, which Starlette sends from outside every middleware.
    An HTML answer gets the default page policy (without a nonce: it has no inline script).
    """
    html = response.headers.get("content-type", "").startswith("text/html")
    response.headers.setdefault("content-security-policy", content_security_policy() if html else API_CSP)
    response.headers.setdefault("x-content-type-options", "nosniff")
    response.headers.setdefault("referrer-policy", REFERRER_POLICY)
    return response


def _with_nonce(policy: str, nonce: str) -> str:
    """``policy`` with ``'nonce-…'`` added to its script-src (added as a directive if it has none)."""
    parts = [p.strip() for p in policy.split(";") if p.strip()]
    for i, part in enumerate(parts):
        if part.split()[0].lower() == "script-src":
            parts[i] = f"{part} 'nonce-{nonce}'"
            return "; ".join(parts)
    return "; ".join([*parts, f"script-src 'self' 'nonce-{nonce}'"])


def csp_nonce(request: Request) -> str:
    """This request's script nonce, made on first use; :class:`SecurityHeadersMiddleware` puts the same
    nonce in the answer's Content-Security-Policy."""
    return _nonce_of(request.scope.setdefault("state", {}))


def _nonce_of(state: dict[str, Any]) -> str:
    nonce = state.get("csp_nonce")
    if nonce is None:
        nonce = state["csp_nonce"] = secrets.token_urlsafe(16)
    return nonce


def template_context(request: Request) -> dict[str, Any]:
    """Jinja context processor: ``csp_nonce`` for the pages' inline ``<script nonce=…>`` tags."""
    return {"csp_nonce": csp_nonce(request)}


class SecurityHeadersMiddleware:
    """Adds nosniff, Referrer-Policy and the Content-Security-Policy (with a fresh nonce) to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the state dict the whole request shares (copies of the scope share it): templates set the nonce in it
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                html = content_type.startswith(b"text/html")
                if html and b"content-security-policy" in names:
                    nonce = _nonce_of(state)
                    headers = [
                        (k, _with_nonce(v.decode("latin-1"), nonce).encode("latin-1"))
                        if k.lower() == b"content-security-policy"
                        else (k, v)
                        for k, v in headers
                    ]
                elif b"content-security-policy" not in names:
                    policy = content_security_policy(nonce=_nonce_of(state)) if html else API_CSP
                    headers.append((b"content-security-policy", policy.encode("latin-1")))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if b"referrer-policy" not in names:
                    headers.append((b"referrer-policy", REFERRER_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
