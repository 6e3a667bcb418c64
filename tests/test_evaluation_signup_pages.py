"""A worker signs up for an evaluation session (技能等级认定) over HTTP, as for a class: the form from the
skill-code page, CSRF, the result with its reference code, a refusal that writes nothing, cancel and
erase; and at phone size in Debian's chromium."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from geo.clock import city_today
from geo.db import session_scope
from geo.models import Evaluation, Signup
from tests._maps_browser import PHONE, browser, horizontal_overflow, live_server, small_targets  # noqa: F401
from tests._signup_fixtures import make_evaluation, mobile

TEST_ROW_PREFIXES = ("SIGNUP-",)  # make_evaluation rows, removed after the module (conftest._remove_test_rows)


@pytest.fixture(autouse=True)
def _no_address_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test client posts from one address, which other modules' sign-ups in this process count
    against the hourly limit; the limits themselves are tested in tests/test_signups.py."""
    from geo.config import get_settings

    monkeypatch.setattr(get_settings(), "signup_limit_per_ip_hour", 0)


def _fields(client, eid: int, lang: str = "zh") -> dict:
    page = client.get(f"/signup/e/{eid}", params={"lang": lang})
    assert page.status_code == 200, page.text[:300]
    return dict(re.findall(r'name="(csrf_token|submission_key)" value="([^"]+)"', page.text))


def _post(client, eid: int, fields: dict, **kw):
    data = {"name": "王五", "mobile": mobile(7100), "note": "", "consent": "yes", **fields, **kw}
    return client.post(f"/signup/e/{eid}?lang=zh", data=data, follow_redirects=False)


def test_sign_up_for_an_evaluation_then_cancel_and_erase(client) -> None:
    _, eid = make_evaluation(seats=1, tag="EVPAGE1")
    page = client.get(f"/signup/e/{eid}", params={"lang": "zh"})
    assert 'id="evaluation-card"' in page.text and "技能等级认定" in page.text and "报名截止" in page.text
    assert f'action="/signup/e/{eid}?lang=zh"' in page.text and 'data-kind="evaluation"' in page.text
    assert "评价机构" in page.text and "示例数据" in page.text  # the consent names the agency; the sample says so
    done = _post(client, eid, _fields(client, eid))
    assert done.status_code == 303
    result = client.get(done.headers["location"])
    assert 'data-status="confirmed"' in result.text and 'id="evaluation-card"' in result.text
    ref = re.search(r'id="reference" translate="no">([A-Z0-9]+)<', result.text).group(1)
    # the session is full now: the next worker joins the waitlist, in English on request
    other = _post(client, eid, _fields(client, eid, "en"), mobile=mobile(7101), name="Li Si")
    waiting = client.get(other.headers["location"].replace("lang=zh", "lang=en"))
    assert 'data-status="waitlisted"' in waiting.text and "number 1 on the waitlist" in waiting.text
    confirm = client.get(f"/signup/r/{ref}/cancel", params={"lang": "zh"})
    assert confirm.status_code == 200 and "电工" in confirm.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text).group(1)
    gone = client.post(f"/signup/r/{ref}/cancel?lang=zh", data={"csrf_token": token}, follow_redirects=True)
    assert 'data-status="cancelled"' in gone.text
    with session_scope() as session:
        rows = session.scalars(select(Signup).where(Signup.evaluation_id == eid).order_by(Signup.id)).all()
        assert [(r.status, r.name) for r in rows] == [("cancelled", ""), ("confirmed", "Li Si")]  # promoted
        assert session.get(Evaluation, eid).seats_left == 0


def test_refusals_explain_and_write_nothing(client) -> None:
    _, eid = make_evaluation(seats=2, tag="EVPAGE-BAD")
    bad = _post(client, eid, _fields(client, eid), mobile="12345678901")
    assert bad.status_code == 422 and 'data-code="invalid_mobile"' in bad.text and 'data-kind="evaluation"' in bad.text
    _, today = make_evaluation(seats=2, tag="EVPAGE-TODAY", day=city_today("jiaxing"))
    closed = client.get(f"/signup/e/{today}", params={"lang": "en"})
    assert 'data-code="signup_closed"' in closed.text and 'id="signup-form"' not in closed.text
    late = _post(client, today, {"csrf_token": client.cookies["sc_csrf"], "submission_key": "k" * 24})
    assert late.status_code == 409 and "截止报名" in late.text
    missing = client.get("/signup/e/2147483000")
    assert missing.status_code == 404 and 'data-code="evaluation_not_found"' in missing.text
    assert client.get("/signup/e/0").status_code == 422
    with session_scope() as session:
        assert session.scalar(select(func.count(Signup.id)).where(Signup.evaluation_id.in_([eid, today]))) == 0


def test_skill_code_evaluations_link_to_sign_up(client, admin_token: str) -> None:
    _, eid = make_evaluation(seats=3, tag="EVPAGE-CODE", day=city_today("jiaxing") + timedelta(days=4))
    made = client.post(
        "/api/v1/admin/skill-codes",
        json={"target_type": "city", "city": "jiaxing"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert made.status_code == 201, made.text
    page = client.get(f"/s/{made.json()['code']}", params={"lang": "zh"})
    links = re.findall(r'href="/signup/e/(\d+)\?lang=zh"', page.text)
    assert links, "an evaluation without a sign-up link"
    form = client.get(f"/signup/e/{links[0]}", params={"lang": "zh"})
    assert form.status_code == 200 and 'id="evaluation-card"' in form.text


def test_a_session_held_today_offers_no_sign_up(client, admin_token: str) -> None:
    today = city_today("jiaxing")
    rid_today, eid_today = make_evaluation(seats=3, tag="EVPAGE-HELD", day=today)
    rid_soon, eid_soon = make_evaluation(seats=3, tag="EVPAGE-SOON", day=today + timedelta(days=2))
    flags = {}
    for rid in (rid_today, rid_soon):
        detail = client.get(f"/api/v1/resources/{rid}", params={"city": "jiaxing"})
        assert detail.status_code == 200, detail.text
        flags |= {e["id"]: e["signup_open"] for e in detail.json()["next_evaluations"]}
    assert flags == {eid_today: False, eid_soon: True}
    made = client.post(
        "/api/v1/admin/skill-codes",
        json={"target_type": "city", "city": "jiaxing"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    page = client.get(f"/s/{made.json()['code']}", params={"lang": "zh"}).text
    assert f'href="/signup/e/{eid_today}?' not in page and f'data-evaluation-id="{eid_today}"' not in page


@pytest.mark.browser
def test_the_evaluation_form_fits_a_phone(browser, live_server, artifacts) -> None:  # noqa: F811
    _, eid = make_evaluation(seats=2, tag="EVPAGE-PHONE")
    context = browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/signup/e/{eid}")
    page.wait_for_selector("#signup-form")
    assert horizontal_overflow(page) <= 0 and small_targets(page) == []
    page.screenshot(path=str(artifacts / "signup-evaluation-360.png"), full_page=True)
    page.fill("#name", "赵六")
    page.fill("#mobile", mobile(7200))
    page.check("#consent")
    page.click("#submit")
    page.wait_for_selector('#status[data-status="confirmed"]')
    assert page.locator("#evaluation-card").is_visible() and horizontal_overflow(page) <= 0
    context.close()
