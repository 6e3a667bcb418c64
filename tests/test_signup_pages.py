"""The worker's sign-up pages over HTTP: form, CSRF, honeypot, bad numbers, result, cancel and erase."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from geo.config import get_settings
from geo.db import session_scope
from geo.models import AuditEntry, Resource, Signup, TrainingClass
from tests._signup_fixtures import make_class, mobile

TEST_ROW_PREFIXES = ("SIGNUP-",)  # make_class rows, removed after the module (conftest._remove_test_rows)


def _form(client, class_id: int, lang: str = "zh") -> dict:
    page = client.get(f"/signup/{class_id}", params={"lang": lang})
    assert page.status_code == 200
    fields = dict(re.findall(r'name="(csrf_token|submission_key)" value="([^"]+)"', page.text))
    assert set(fields) == {"csrf_token", "submission_key"}
    assert client.cookies.get("sc_csrf") == fields["csrf_token"]
    return fields


def _post(client, class_id: int, fields: dict, **kw):
    data = {"name": "张三", "mobile": mobile(9000), "note": "", "consent": "yes", **fields, **kw}
    return client.post(f"/signup/{class_id}?lang=zh", data=data, follow_redirects=False)


def test_sign_up_then_cancel_and_erase(client) -> None:
    _, cid = make_class(seats=1, tag="PAGE1")
    page = client.get(f"/signup/{cid}")
    assert "在线报名" in page.text and "个人信息保护告知书" in page.text and "更新于" in page.text
    assert 'name="website"' in page.text  # the honeypot
    set_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    fields = _form(client, cid)
    done = _post(client, cid, fields, mobile="138 0013 8000")
    assert done.status_code == 303
    result_url = done.headers["location"]
    again = _post(client, cid, fields, mobile="138 0013 8000")  # a double submit lands on the same sign-up
    assert again.status_code == 303 and again.headers["location"] == result_url
    result = client.get(result_url)
    assert result.status_code == 200 and 'data-status="confirmed"' in result.text
    ref = re.search(r'id="reference" translate="no">([A-Z0-9]+)<', result.text).group(1)
    assert len(ref) >= 10 and "138****8000" in result.text and "13800138000" not in result.text

    # the class is now full: the next worker is waitlisted, told so in English on request
    other = _post(client, cid, _form(client, cid, "en"), mobile=mobile(9001), name="Li Si")
    waiting = client.get(other.headers["location"].replace("lang=zh", "lang=en"))
    assert 'data-status="waitlisted"' in waiting.text and "number 1 on the waitlist" in waiting.text

    confirm = client.get(f"/signup/r/{ref}/cancel")
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text).group(1)
    forged = client.post(f"/signup/r/{ref}/cancel?lang=zh", data={"csrf_token": "forged-token-value-123456"})
    assert forged.status_code == 403 and "安全校验" in forged.text
    gone = client.post(f"/signup/r/{ref}/cancel?lang=zh", data={"csrf_token": token}, follow_redirects=True)
    assert 'data-status="cancelled"' in gone.text and "已删除" in gone.text
    with session_scope() as session:
        rows = {s.reference: s for s in session.scalars(select(Signup).where(Signup.class_id == cid))}
        assert rows[ref].name == "" and rows[ref].mobile_enc == ""
        assert [s.status for r, s in rows.items() if r != ref] == ["confirmed"]  # promoted from the waitlist
        audit = session.scalars(select(AuditEntry.changes)).all()
        assert not any("13800138000" in str(a) for a in audit)


@pytest.mark.parametrize(
    ("change", "status", "code", "text"),
    [
        ({"mobile": "12345678901"}, 422, "invalid_mobile", "手机号码"),
        ({"consent": ""}, 422, "consent_required", "同意"),
        ({"website": "http://spam.example"}, 422, "spam_suspected", "手动填写"),
        ({"csrf_token": "x" * 30}, 403, "csrf_failed", "安全校验"),
    ],
)
def test_refused_forms_explain_and_write_nothing(client, change, status, code, text) -> None:
    _, cid = make_class(seats=2, tag=f"PAGE-{code}")
    resp = _post(client, cid, _form(client, cid), **change)
    assert resp.status_code == status
    assert f'data-code="{code}"' in resp.text and text in resp.text
    assert 'id="signup-form"' in resp.text  # the form comes back with what was typed
    with session_scope() as session:
        assert session.get(TrainingClass, cid).seats_left == 2
        assert session.scalars(select(Signup).where(Signup.class_id == cid)).all() == []


def test_a_spent_sign_up_limit_says_when_to_come_back(client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The form's own 429 (a number's daily limit) carries Retry-After, like the API's, and keeps the form."""
    monkeypatch.setattr(get_settings(), "signup_limit_per_number_day", 1)
    classes = [make_class(seats=3, tag=f"PAGE-LIMIT{i}")[1] for i in range(2)]
    assert _post(client, classes[0], _form(client, classes[0]), mobile=mobile(9100)).status_code == 303
    resp = _post(client, classes[1], _form(client, classes[1]), mobile=mobile(9100))
    assert resp.status_code == 429 and resp.headers["retry-after"] == "86400"
    assert 'data-code="signup_limit_number"' in resp.text and "明天再试" in resp.text
    assert 'id="signup-form"' in resp.text
    with session_scope() as session:
        assert session.get(TrainingClass, classes[1]).seats_left == 3


def test_closed_cancelled_and_unknown_classes(client) -> None:
    _, cid = make_class(seats=2, tag="PAGE-OLD", deadline=date.today() - timedelta(days=2))
    page = client.get(f"/signup/{cid}", params={"lang": "en"})
    assert 'data-code="signup_closed"' in page.text and "closed on" in page.text
    assert 'id="signup-form"' not in page.text
    resp = _post(client, cid, {"csrf_token": client.cookies["sc_csrf"], "submission_key": "k" * 24})
    assert resp.status_code == 409 and "截止报名" in resp.text
    missing = client.get("/signup/2147483000")
    assert missing.status_code == 404 and "找不到该班次" in missing.text
    unknown = client.get("/signup/r/NOSUCHREFERENCE")
    assert unknown.status_code == 404 and 'data-code="signup_not_found"' in unknown.text
    privacy = client.get("/privacy")
    assert privacy.status_code == 200 and "个人信息保护法" in privacy.text and "12333" in privacy.text
    assert "Personal Information Protection Law" in client.get("/privacy?lang=en").text


def test_skill_code_class_cards_link_to_sign_up(client, admin_token: str) -> None:
    made = client.post(
        "/api/v1/admin/skill-codes",
        json={"target_type": "city", "city": "jiaxing"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert made.status_code == 201, made.text
    page = client.get(f"/s/{made.json()['code']}")
    links = re.findall(r'href="/signup/(\d+)\?lang=zh"', page.text)
    assert links, "a class card without a sign-up link"
    assert "更新于" in page.text
    form = client.get(f"/signup/{links[0]}")
    assert form.status_code == 200 and 'id="signup-form"' in form.text


def test_seats_added_through_the_admin_api_go_to_the_waitlist(client, admin_token: str) -> None:
    from geo.signups import new_submission_key, sign_up

    _, cid = make_class(seats=1, tag="API-PROMOTE")
    ids = []
    for i in range(2):
        with session_scope() as session:
            ids.append(
                sign_up(
                    session,
                    class_id=cid,
                    name=f"API{i}",
                    mobile=mobile(9100 + i),
                    consent=True,
                    submission_key=new_submission_key(),
                ).signup.id
            )
    with session_scope() as session:
        c = session.get(TrainingClass, cid)
        body = {
            "external_id": c.external_id,
            "resource_id": c.resource_id,
            "skill": c.skill,
            "level": c.level,
            "start_date": c.start_date.isoformat(),
            "end_date": c.end_date.isoformat(),
            "schedule": c.schedule,
            "seats_total": 2,
            "seats_left": 1,
            "is_sample": True,
        }
    resp = client.put(
        f"/api/v1/admin/classes/{cid}?city=jiaxing", json=body, headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["seats_left"] == 0
    with session_scope() as session:
        assert [session.get(Signup, i).status for i in ids] == ["confirmed", "confirmed"]


def test_updated_dates_on_the_skill_code_page_are_the_citys_dates(client, admin_token: str) -> None:
    # 20:00 UTC on 1 March is already 2 March in Jiaxing (UTC+8): the page shows the city's date
    rid, cid = make_class(seats=2, tag="TZDATE")
    stamp = datetime(2026, 3, 1, 20, 0)
    with session_scope() as s:
        s.get(Resource, rid).updated_at = stamp
        s.get(TrainingClass, cid).updated_at = stamp
    made = client.post(
        "/api/v1/admin/skill-codes",
        json={"target_type": "resource", "city": "jiaxing", "resource_id": rid},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert made.status_code == 201, made.text
    page = client.get(f"/s/{made.json()['code']}")
    assert page.status_code == 200
    assert page.text.count("2026-03-02") >= 2 and "2026-03-01" not in page.text
