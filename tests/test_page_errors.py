"""Failures as a person meets them in a browser: a page, not the API's JSON body.

A browser opening a page (``Accept: text/html``, a path outside ``/api/``) gets every failure that
no route answered itself (an unknown path, a lost database, a rate limit, an unexpected error) as a
small page in its language, with the error's code, the same status and ``Retry-After``, and the
site's Content-Security-Policy and security headers. ``/api/v1/…`` and clients that do not ask for
HTML keep the JSON body, byte for byte. The lost database is a real one: a PostgreSQL database filled
through the CLI, served by uvicorn and dropped under it (as ``tests/test_database_loss.py`` does); the
skill-code page is then opened in headless chromium at 360 px.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests._maps_browser import (  # noqa: F401 - fixtures
    PHONE,
    axe_violations,
    browser,
    horizontal_overflow,
    recording_context,
    small_targets,
)
from tests._servers import run_cli, uvicorn_server

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what chromium sends
HTML = {"Accept": BROWSER}
JSON = {"Accept": "application/json"}


def _policy(resp: httpx.Response) -> dict[str, str]:
    csp = resp.headers["content-security-policy"]
    return {p.split()[0]: " ".join(p.split()[1:]) for p in (d.strip() for d in csp.split(";")) if p}


def _check_page(resp: httpx.Response, *, status: int, code: str, lang: str = "zh") -> None:
    """An error page: status, HTML, the site's headers and policy, the code shown, no outside asset."""
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "Accept" in resp.headers.get("vary", "")
    policy = _policy(resp)
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"] and policy["frame-ancestors"] == "'self'"
    page = resp.text
    assert f'<html lang="{"en" if lang == "en" else "zh-CN"}">' in page
    assert f'data-error-code="{code}"' in page and f'<code translate="no">{code}</code>' in page
    assert f"HTTP {status}" in page
    assert 'name="viewport"' in page and 'id="home"' in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    assert "<script" not in page


def _check_json(resp: httpx.Response, *, status: int, code: str) -> dict:
    """The API's JSON error body, exactly its four fields."""
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    body = resp.json()
    assert list(body) == ["error"] and list(body["error"]) == ["code", "message_zh", "message_en", "details"]
    assert body["error"]["code"] == code
    return body["error"]


# ---------------------------------------------------------------------------------------------- in process
@pytest.fixture(scope="module")
def code(jiaxing_sample) -> str:
    """A skill code posted in Jiaxing."""
    from geo.cities import load_city
    from geo.db import session_scope
    from geo.skillcodes import Target, create_code

    with session_scope() as s:
        return create_code(s, load_city("jiaxing"), Target(target_type="city"), actor="test-page-errors").code


@pytest.fixture
def lenient(client):
    """The app of ``client``, answering an unexpected error with its 500 (not raising it into the test)."""
    from fastapi.testclient import TestClient

    return TestClient(client.app, raise_server_exceptions=False)


@pytest.mark.parametrize("path", ["/no-such-page", "/map/nowhere", "/s/ABCDEFGH/nothing", "/console/nowhere"])
def test_an_unknown_page_is_a_page_for_browsers_and_json_for_others(client, path: str) -> None:
    page = client.get(path, headers=HTML)
    _check_page(page, status=404, code="not_found")
    assert "找不到该页面或接口" in page.text and "返回首页" in page.text
    assert 'id="retry"' not in page.text  # nothing to wait for
    error = _check_json(client.get(path, headers=JSON), status=404, code="not_found")
    assert error == {
        "code": "not_found",
        "message_zh": "找不到该页面或接口",
        "message_en": "no such page or endpoint",
        "details": {},
    }
    assert client.get(path).headers["content-type"] == "application/json"  # no Accept: */*


def test_the_error_page_speaks_the_browsers_language(client) -> None:
    by_header = client.get("/no-such-page", headers=HTML | {"Accept-Language": "en-US,en;q=0.9"})
    _check_page(by_header, status=404, code="not_found", lang="en")
    assert "Not found" in by_header.text and "Home page" in by_header.text
    by_query = client.get("/no-such-page?lang=en", headers=HTML | {"Accept-Language": "zh-CN"})
    _check_page(by_query, status=404, code="not_found", lang="en")
    chinese = client.get("/no-such-page?lang=zh", headers=HTML | {"Accept-Language": "en"})
    _check_page(chinese, status=404, code="not_found", lang="zh")


def test_the_api_answers_json_even_to_a_browser(client) -> None:
    for accept in (HTML, JSON, {}):
        _check_json(client.get("/api/v1/no-such", headers=accept), status=404, code="not_found")
        bad = client.get("/api/v1/nearby", params={"lat": "x", "lon": 120.76}, headers=accept)
        _check_json(bad, status=422, code="invalid_parameter")
        assert "vary" not in bad.headers or "Accept" not in bad.headers["vary"]


def test_a_malformed_page_address_is_a_page(client) -> None:
    _check_page(client.get("/signup/abc", headers=HTML), status=422, code="invalid_parameter")
    _check_json(client.get("/signup/abc", headers=JSON), status=422, code="invalid_parameter")


def test_a_path_naming_another_host_links_only_to_this_site(client) -> None:
    page = client.get("http://testserver/%2F%5Cevil.example/x", headers=HTML)
    _check_page(page, status=404, code="not_found")
    assert not re.search(r'href="(//|/\\)', page.text)


def test_an_unexpected_error_is_a_page_with_the_sites_headers(lenient, code: str, monkeypatch) -> None:
    import api.routers.resources as resources
    import api.routers.skillcodes as skillcodes

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(skillcodes, "build_answer", broken)
    page = lenient.get(f"/s/{code}", headers=HTML)
    _check_page(page, status=500, code="internal_error")
    assert "服务器出错了" in page.text and 'id="retry"' not in page.text
    error = _check_json(lenient.get(f"/s/{code}", headers=JSON), status=500, code="internal_error")
    assert error["message_en"] == "internal error; it has been logged"
    # an API route: JSON for a browser too, and the security headers Starlette's 500 used to go without
    monkeypatch.setattr(resources, "skill_counts", broken)
    api = lenient.get("/api/v1/skills", params={"city": "jiaxing"}, headers=HTML)
    _check_json(api, status=500, code="internal_error")
    assert api.headers["x-content-type-options"] == "nosniff"


def test_a_rate_limit_on_a_page_is_a_page_with_retry_after(client, monkeypatch) -> None:
    """The limiter counts only ``/api/v1/``; a 429 raised while a page is built (here: a sign-up
    limit where the form does not catch it) gets the page, its wait and ``Retry-After``."""
    from sqlalchemy import select

    import api.routers.signup as signup
    from geo.db import session_scope
    from geo.errors import RateLimitedError
    from geo.models import TrainingClass

    with session_scope() as s:
        class_id = s.scalars(select(TrainingClass.id).where(TrainingClass.city == "jiaxing")).first()

    def limited(*_args, **_kwargs):
        msg = "too many sign-ups from this network in the last hour; please try again later"
        zh = "该网络一小时内报名次数过多，请稍后再试"
        raise RateLimitedError(msg, message_zh=zh, code="signup_limit_ip", details={"retry_after": 3600})

    monkeypatch.setattr(signup, "class_problem", limited)
    page = client.get(f"/signup/{class_id}?city=jiaxing", headers=HTML)
    _check_page(page, status=429, code="signup_limit_ip")
    assert page.headers["retry-after"] == "3600"
    assert "请约 60 分钟后刷新本页再试" in page.text
    assert f'id="retry" href="/signup/{class_id}?city=jiaxing"' in page.text
    answer = client.get(f"/signup/{class_id}", headers=JSON)
    _check_json(answer, status=429, code="signup_limit_ip")
    assert answer.headers["retry-after"] == "3600"


@pytest.mark.slow
def test_the_rate_limit_answers_json_and_never_counts_pages(var_dir: Path, code: str) -> None:
    """As ``tests/test_ratelimit.py``: a server with a small limit; the API's 429 stays JSON (a
    browser's ``Accept`` changes nothing), the pages a worker opens are not counted."""
    # the session's database (the sample and the code) and var/ (the limiter's shared store)
    env = {"SKILLCIRCLE_VAR_DIR": str(var_dir), "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "3"}
    with uvicorn_server(env) as base:
        statuses = [httpx.get(f"{base}/api/v1/categories", headers=HTML, timeout=30) for _ in range(5)]
        pages = [httpx.get(f"{base}/s/{code}", headers=HTML, timeout=60).status_code for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    error = _check_json(statuses[3], status=429, code="rate_limited")
    assert error["message_zh"] == "请求过于频繁，请稍后再试"
    assert 1 <= int(statuses[3].headers["retry-after"]) <= 60
    assert pages == [200] * 5


# ---------------------------------------------------------------------------------------------- lost database
@pytest.fixture(scope="module")
def outage(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(base URL, skill code) of a server whose PostgreSQL database was dropped after it started."""
    url = os.environ.get("SKILLCIRCLE_TEST_DATABASE_URL", "")
    if not url:
        _no_postgres("SKILLCIRCLE_TEST_DATABASE_URL is not set")
    name = f"sc_pages_{secrets.token_hex(4)}"
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server"
        _no_postgres(f"PostgreSQL unreachable at {url}: {exc}")
    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    tmp = tmp_path_factory.mktemp("outage")
    env = {"DATABASE_URL": db_url, "SKILLCIRCLE_VAR_DIR": str(tmp), "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0"}
    try:
        sample = run_cli(env, "sample", "jiaxing", "--out", str(tmp / "sheets"))
        assert sample.returncode == 0, sample.stderr
        made = run_cli(env, "codes", "create", "jiaxing", "--type", "city")
        assert made.returncode == 0, made.stderr
        code = json.loads(made.stdout.strip().splitlines()[-1])["code"]
        with uvicorn_server(env) as base:
            assert httpx.get(f"{base}/s/{code}", headers=HTML, timeout=60).status_code == 200
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            yield base, code
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _no_postgres(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(reason)


COOKIES = {"sc_console": "a-console-session-token"}
OUTAGE_PAGES = [
    "/s/{code}",
    "/s/{code}?lang=en",
    "/map?city=jiaxing&basemap=none",
    "/map/coverage?city=jiaxing&category=training&mode=ebike&minutes=30&basemap=none",
    "/embed?city=jiaxing&basemap=none",
    "/signup/1",
    "/signup/r/ABCDEFGHJK",
    "/console/resources/new",  # with a session cookie: the session is looked up in the database
]


@pytest.mark.postgres
@pytest.mark.slow
def test_pages_during_a_database_outage_are_pages_with_retry_after(outage) -> None:
    base, code = outage
    for path in OUTAGE_PAGES:
        url = base + path.format(code=code)
        lang = "en" if "lang=en" in path else "zh"
        page = httpx.get(url, headers=HTML, cookies=COOKIES, timeout=60)
        _check_page(page, status=503, code="database_unavailable", lang=lang)
        seconds = int(page.headers["retry-after"])
        assert seconds > 0, path
        assert ("数据库暂时不可用" if lang == "zh" else "the database is unavailable") in page.text
        retry = re.search(r'id="retry" href="([^"]+)"', page.text)
        assert retry and retry.group(1) == path.format(code=code).replace("&", "&amp;"), path
        hint = f"请约 {seconds} 秒后刷新本页再试" if lang == "zh" else f"Please reload this page in about {seconds}"
        assert hint in page.text, path
        answer = httpx.get(url, headers=JSON, cookies=COOKIES, timeout=60)
        error = _check_json(answer, status=503, code="database_unavailable")
        assert error["message_zh"] == "数据库暂时不可用，请稍后再试" and int(answer.headers["retry-after"]) > 0
    # the API keeps its JSON, whatever the client accepts
    for accept in (HTML, JSON):
        api = httpx.get(f"{base}/api/v1/resources", params={"city": "jiaxing"}, headers=accept, timeout=60)
        _check_json(api, status=503, code="database_unavailable")
        assert int(api.headers["retry-after"]) > 0
    # the embed keeps its portal allow-list (default: this site only), so a portal frame shows the page
    embed = httpx.get(f"{base}/embed?city=jiaxing", headers=HTML, timeout=60)
    assert _policy(embed)["frame-ancestors"] == "'self'"
    # the home page needs no database
    assert httpx.get(f"{base}/", headers=HTML, timeout=60).status_code == 200


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_scanned_code_during_an_outage_shows_the_page_on_a_phone(browser, outage, artifacts, locale) -> None:  # noqa: F811
    base, code = outage
    context, rec = recording_context(browser, viewport=PHONE, locale=locale)
    page = context.new_page()
    response = page.goto(f"{base}/s/{code}", wait_until="load")
    assert response is not None and response.status == 503
    assert int(response.headers["retry-after"]) > 0
    error = page.locator("#error")
    assert error.get_attribute("data-error-code") == "database_unavailable"
    zh = locale.startswith("zh")
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if zh else "en")
    assert ("数据库暂时不可用" if zh else "the database is unavailable") in error.inner_text()
    assert page.locator("#error-code code").inner_text() == "database_unavailable"
    assert page.locator("#retry").is_visible() and page.locator("#home").is_visible()
    assert horizontal_overflow(page) <= 0
    assert small_targets(page) == []
    assert axe_violations(page) == []
    # chromium reports the document's own status as a failed load; anything else is a real error
    errors = [e for e in rec.console_errors if "status of 503" not in e]
    assert errors == [], rec.console_errors
    rec.assert_local_only()
    page.screenshot(path=str(artifacts / f"page-error-outage-360-{locale[:2]}.png"))
    # the retry link reloads the same address (still down: the same page again)
    with page.expect_navigation():
        page.locator("#retry").click()
    assert page.url == f"{base}/s/{code}"
    assert page.locator("#error").get_attribute("data-error-code") == "database_unavailable"
    context.close()
