"""Security headers on every response: a Content-Security-Policy on every HTML page whose scripts
need a file or this request's nonce (never ``'unsafe-inline'``), ``X-Content-Type-Options: nosniff``
and ``Referrer-Policy`` everywhere, frame-ancestors as before (the skill-code pages and their error
pages framable by this site only), and ``/docs`` from Swagger UI files served by this service.
The pages are then opened in Debian's headless chromium, which must report no CSP violation.
"""

from __future__ import annotations

import re

import pytest

from tests._maps_browser import browser, live_server, recording_context, wait_idle  # noqa: F401 - fixtures

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", re.I)


@pytest.fixture(scope="module")
def code(demo_sample) -> str:
    """A skill code posted in the demo city."""
    from geo.cities import load_city
    from geo.db import session_scope
    from geo.skillcodes import Target, create_code

    with session_scope() as s:
        return create_code(
            s, load_city("demo"), Target(target_type="place", town="DEMO-B-01"), actor="test-headers"
        ).code


def _policy(resp) -> dict[str, str]:
    csp = resp.headers["content-security-policy"]
    return {p.split()[0]: " ".join(p.split()[1:]) for p in (d.strip() for d in csp.split(";")) if p}


def _check_html_page(resp, *, ancestors: str = "'self'") -> str:
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    policy = _policy(resp)
    scripts = policy["script-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert policy["frame-ancestors"] == ancestors
    assert policy["object-src"] == "'none'"
    nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", scripts).group(1)
    for attrs in INLINE_SCRIPT.findall(resp.text):
        assert f'nonce="{nonce}"' in attrs, f"an inline script without this request's nonce: <script{attrs}>"
    assert not re.search(r"\son[a-z]+=", resp.text), "inline event handlers are blocked by the CSP"
    return nonce


@pytest.mark.parametrize(
    "path",
    ["/", "/map?city=demo", "/map/coverage?city=demo", "/embed/snippet", "/docs", "/map?city=atlantis"],
)
def test_every_html_page_has_a_nonce_csp(client, path: str) -> None:
    resp = client.get(path, headers={"Accept": "text/html"})
    assert resp.headers["content-type"].startswith("text/html")
    first = _check_html_page(resp)
    again = client.get(path, headers={"Accept": "text/html"})
    assert _check_html_page(again) != first, "the nonce must change with every request"


def test_skill_code_page_and_its_error_pages_cannot_be_framed_by_others(client, code: str) -> None:
    page = client.get(f"/s/{code}")
    assert page.status_code == 200
    _check_html_page(page)
    for bad in ("NOSUCHCODE1", "x"):
        resp = client.get(f"/s/{bad}", headers={"Accept": "text/html"})
        assert resp.status_code in (404, 422)
        _check_html_page(resp)


def test_embed_keeps_its_allow_list_and_gets_the_nonce(client, monkeypatch) -> None:
    from geo.config import get_settings

    monkeypatch.setattr(get_settings(), "embed_origins", ["https://portal.example.cn"])
    resp = client.get("/embed?city=demo")
    _check_html_page(resp, ancestors="'self' https://portal.example.cn")


@pytest.mark.parametrize("path", ["/api/v1/resources?city=demo", "/api/v1/no-such", "/healthz", "/static/map.js"])
def test_every_other_answer_has_nosniff_and_referrer_policy(client, path: str) -> None:
    resp = client.get(path)
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]


def test_docs_are_served_from_this_service(client) -> None:
    page = client.get("/docs")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        resp = client.get(asset)
        assert resp.status_code == 200, asset
    assert "SwaggerUIBundle" in client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").text


@pytest.mark.browser
@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/map?city=demo&basemap=none", "window.SkillCircle && SkillCircle.state.ready"),
        ("/embed/snippet?city=demo&basemap=none", "window.SkillCircle && SkillCircle.state.ready"),
        ("/map/coverage?city=demo&basemap=none", "window.SkillCircle && SkillCircle.state.ready"),
        ("/docs", "document.querySelector('.swagger-ui .info .title') !== null"),
        ("/s/{code}", "document.querySelector('main') !== null"),
    ],
)
def test_pages_work_under_the_csp_in_chromium(browser, live_server, code: str, path: str, ready: str) -> None:  # noqa: F811
    context, rec = recording_context(browser)
    violations: list[str] = []
    context.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page = context.new_page()
    resp = page.goto(live_server.url + path.format(code=code), wait_until="load")
    assert resp.status == 200
    page.wait_for_function(f"() => {ready}", timeout=30000)
    if "SkillCircle" in ready:
        wait_idle(page)
    page.wait_for_timeout(300)
    assert violations == [], violations
    assert not [e for e in rec.console_errors if "Refused" in e], rec.console_errors
    assert rec.requests and not [u for u in rec.external if "/static/" in u or "/docs" in u]
    context.close()


@pytest.mark.browser
def test_header_switch_submits_without_inline_handlers(browser, live_server) -> None:  # noqa: F811
    context, _rec = recording_context(browser)
    page = context.new_page()
    page.goto(live_server.url + "/map?city=demo&basemap=none", wait_until="load")
    wait_idle(page)
    with page.expect_navigation():
        page.select_option("#sc-city", "jiaxing")
    assert "city=jiaxing" in page.url
    context.close()
