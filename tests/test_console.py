"""The console over HTTP: login (CSRF, lockout, expiry), an editor's own institution only (403 audited),
classes validated by the importer's rules, review queue, staleness, accounts, sign-up lists and exports."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from geo.accounts import create_account
from geo.db import session_scope
from geo.models import AuditEntry, Resource, ReviewItem, TrainingClass
from geo.signups import new_submission_key, sign_up

PASSWORD = "console pass 2026"


@pytest.fixture(scope="module")
def setup(jiaxing_sample, demo_sample) -> dict:
    with session_scope() as session:
        mine, other = session.scalars(
            select(Resource).where(Resource.city == "jiaxing", Resource.category == "training").limit(2)
        ).all()
        create_account(session, username="con-admin", password=PASSWORD, role="bureau_admin", city="jiaxing")
        create_account(
            session,
            username="con-editor",
            password=PASSWORD,
            role="institution_editor",
            city="jiaxing",
            resource_ids=[mine.id],
        )
        other_class = session.scalar(select(TrainingClass.id).where(TrainingClass.resource_id == other.id))
        return {"mine": mine.id, "other": other.id, "other_class": other_class}


@pytest.fixture(scope="module")
def app():
    from api.main import create_app

    return create_app()


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(app, username: str, password: str = PASSWORD) -> TestClient:
    c = TestClient(app)
    page = c.get("/console/login")
    resp = c.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    cookie = resp.headers["set-cookie"].lower()
    assert "sc_console=" in cookie and "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    return c


def _post(c: TestClient, url: str, data: dict, page_url: str | None = None):
    token = _csrf(c.get(page_url or "/console").text)
    return c.post(url, data={"csrf_token": token, **data}, follow_redirects=False)


def test_login_refusals(app, setup) -> None:
    c = TestClient(app)
    page = c.get("/console/login")
    assert "登录管理后台" in page.text
    no_csrf = c.post("/console/login", data={"username": "con-admin", "password": PASSWORD})
    assert no_csrf.status_code == 403 and "安全校验" in no_csrf.text
    wrong = c.post(
        "/console/login?lang=en",
        data={"username": "con-admin", "password": "nope nope nope", "csrf_token": _csrf(page.text)},
    )
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    expired = c.get("/console", cookies={"sc_console": "stale-token"}, follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"] == "/console/login?expired=1"
    assert "登录已过期" in c.get("/console/login?expired=1&lang=zh").text

    over_https = TestClient(app, base_url="https://testserver")
    page = over_https.get("/console/login")
    resp = over_https.post(
        "/console/login",
        data={"username": "con-admin", "password": PASSWORD, "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and "; secure" in resp.headers["set-cookie"].lower()


def test_editor_adds_edits_and_cancels_a_class(app, setup) -> None:
    c = _login(app, "con-editor")
    home = c.get("/console")
    assert f"/console/resources/{setup['mine']}" in home.text and "我的机构" in home.text
    start = date.today() + timedelta(days=20)
    fields = {
        "skill": "电工",
        "level": "4",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=30)).isoformat(),
        "schedule": "evening",
        "seats_total": "12",
        "seats_left": "12",
        "fee": "1200",
        "subsidy": "800",
    }
    url = f"/console/classes/new?resource_id={setup['mine']}"
    made = _post(c, url, fields, page_url=url)
    assert made.status_code == 303, made.text
    class_id = int(re.search(r"/console/classes/(\d+)", made.headers["location"]).group(1))
    with session_scope() as session:
        cls = session.get(TrainingClass, class_id)
        assert (cls.seats_left, cls.schedule, cls.resource_id) == (12, "evening", setup["mine"])
        audit = session.scalar(  # the newest: an id the database reused may have older entries
            select(AuditEntry)
            .where(AuditEntry.entity == "class", AuditEntry.entity_id == str(class_id))
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        assert audit.actor == "con-editor" and audit.action == "create" and audit.changes["seats_left"]["to"] == 12

    # the importer's rules, with bilingual messages; nothing written
    bad = _post(
        c, url, fields | {"end_date": (start - timedelta(days=1)).isoformat(), "seats_left": "99"}, page_url=url
    )
    assert bad.status_code == 422
    assert "结束日期早于开始日期" in bad.text and "剩余名额多于总名额" in bad.text
    assert "end_date" in bad.text
    with session_scope() as session:
        n = len(session.scalars(select(TrainingClass.id).where(TrainingClass.resource_id == setup["mine"])).all())

    edit_url = f"/console/classes/{class_id}"
    saved = _post(c, edit_url, fields | {"seats_left": "7", "seats_left_seen": "12"}, page_url=edit_url)
    assert saved.status_code == 303
    with session_scope() as session:
        assert session.get(TrainingClass, class_id).seats_left == 7
        assert (
            len(session.scalars(select(TrainingClass.id).where(TrainingClass.resource_id == setup["mine"])).all()) == n
        )
        changes = session.scalars(
            select(AuditEntry.changes).where(AuditEntry.entity == "class", AuditEntry.action == "update")
        ).all()[-1]
        assert changes == {"seats_left": {"from": 12, "to": 7}}

    public = c.get("/api/v1/classes", params={"resource_id": setup["mine"], "city": "jiaxing"}).json()
    assert class_id in [i["id"] for i in public["items"]]
    cancelled = _post(c, f"/console/classes/{class_id}/cancel", {}, page_url=edit_url)
    assert cancelled.status_code == 303
    public = c.get("/api/v1/classes", params={"resource_id": setup["mine"], "city": "jiaxing"}).json()
    assert class_id not in [i["id"] for i in public["items"]]


def test_editor_cannot_touch_another_institution(app, setup) -> None:
    c = _login(app, "con-editor")
    page = c.get(f"/console/classes/{setup['other_class']}")
    assert page.status_code == 403 and "无权修改其他机构" in page.text
    posted = _post(c, f"/console/classes/{setup['other_class']}", {"skill": "黑客", "seats_left": "0"})
    assert posted.status_code == 403
    assert c.get(f"/console/resources/{setup['other']}").status_code == 403
    assert c.get(f"/console/classes/new?resource_id={setup['other']}").status_code == 403
    assert c.get("/console/accounts").status_code == 403
    with session_scope() as session:
        denied = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "denied", AuditEntry.actor == "con-editor")
        ).all()
        assert len(denied) >= 4
        assert session.get(TrainingClass, setup["other_class"]).skill != "黑客"


def test_held_edits_wait_for_review(app, setup) -> None:
    editor = _login(app, "con-editor")
    url = f"/console/resources/{setup['mine']}"
    form = dict(re.findall(r'<input id="(\w+)" name="\w+"[^>]*value="([^"]*)"', editor.get(url).text))
    form |= {"category": "training", "subsidy_eligible": "no", "reg_steps": ""}
    with session_scope() as session:
        old_name = session.get(Resource, setup["mine"]).name
    resp = _post(
        editor, url, form | {"phone": "0573-0000 9999（示例号码）", "name": old_name + "（新校区）"}, page_url=url
    )
    assert resp.status_code == 303 and resp.headers["location"].endswith("saved=2")
    with session_scope() as session:
        res = session.get(Resource, setup["mine"])
        assert res.phone == "0573-0000 9999（示例号码）" and res.name == old_name  # phone at once, name held
        item = session.scalar(
            select(ReviewItem).where(ReviewItem.resource_id == res.id, ReviewItem.status == "pending")
        )
        assert item.proposed == {"name": old_name + "（新校区）"}
    bad = _post(editor, url, form | {"lon": "150.0"}, page_url=url)  # a point outside the city
    assert bad.status_code == 422 and "不在" in bad.text

    admin = _login(app, "con-admin")
    queue = admin.get("/console/review")
    assert old_name + "（新校区）" in queue.text
    assert _post(admin, f"/console/review/{item.id}", {"decision": "approve"}, "/console/review").status_code == 303
    with session_scope() as session:
        assert session.get(Resource, setup["mine"]).name == old_name + "（新校区）"


def test_admin_pages_accounts_stale_and_new_institutions(app, setup) -> None:
    with session_scope() as session:
        res = session.get(Resource, setup["other"])
        res.updated_at = datetime.now(UTC) - timedelta(days=400)
        for c in session.scalars(select(TrainingClass).where(TrainingClass.resource_id == res.id)):
            c.updated_at = datetime.now(UTC) - timedelta(days=400)
        for e in res.evaluations:
            e.updated_at = datetime.now(UTC) - timedelta(days=400)
    admin = _login(app, "con-admin")
    assert f'data-resource-id="{setup["other"]}"' in admin.get("/console/stale").text
    listed = admin.get("/console/institutions?q=示例")
    assert listed.status_code == 200 and "示例" in listed.text
    assert "<tbody></tbody>" in admin.get("/console/institutions?q=%25%25_").text  # wildcards are literal

    made = _post(
        admin,
        "/console/accounts",
        {
            "username": "con-new",
            "role": "institution_editor",
            "resource_ids": str(setup["other"]),
            "password": PASSWORD,
        },
        "/console/accounts",
    )
    assert made.status_code == 200 and 'id="created"' in made.text
    with session_scope() as session:
        new_id = session.scalar(
            select(AuditEntry.entity_id).where(AuditEntry.entity == "account").order_by(AuditEntry.id.desc())
        )
    reset = _post(admin, f"/console/accounts/{new_id}/reset", {}, "/console/accounts")
    temp = re.search(r'id="temporary">.*?<b class="mono">([^<]+)</b>', reset.text).group(1)
    _login(app, "con-new", temp)
    assert _post(admin, f"/console/accounts/{new_id}/disable", {}, "/console/accounts").status_code == 200

    # an editor proposes a new institution; the admin approves it and the editor may edit it
    editor = _login(app, "con-editor")
    form = {"name": "【示例】新设培训点", "category": "training", "lon": "120.755", "lat": "30.747"}
    proposed = _post(editor, "/console/resources/new", form, "/console/resources/new")
    assert proposed.status_code == 303 and "proposed=1" in proposed.headers["location"]
    with session_scope() as session:
        item = session.scalar(select(ReviewItem).where(ReviewItem.kind == "new", ReviewItem.status == "pending"))
    assert _post(admin, f"/console/review/{item.id}", {"decision": "approve"}, "/console/review").status_code == 303
    with session_scope() as session:
        new_res = session.scalar(select(Resource).where(Resource.name == "【示例】新设培训点"))
        assert new_res.district
    assert editor.get(f"/console/resources/{new_res.id}").status_code == 200


def test_signup_lists_exports_and_demand(app, setup, admin_token: str) -> None:
    with session_scope() as session:
        start = date.today() + timedelta(days=3)
        cls = TrainingClass(
            city="jiaxing",
            external_id="CON-EXPORT",
            resource_id=setup["mine"],
            skill="保育员",
            level=4,
            start_date=start,
            end_date=start + timedelta(days=5),
            schedule="weekday",
            seats_total=1,
            seats_left=1,
            is_sample=True,
        )
        session.add(cls)
        session.flush()
        class_id = cls.id
    for i, name in enumerate(['=HYPERLINK("http://x")', "王五"]):
        with session_scope() as session:
            sign_up(
                session,
                class_id=class_id,
                name=name,
                mobile=f"1371234{i:04d}",
                consent=True,
                submission_key=new_submission_key(),
            )
    editor = _login(app, "con-editor")
    page = editor.get(f"/console/classes/{class_id}/signups")
    assert "13712340000" in page.text and 'data-status="waitlisted"' in page.text
    csv_body = editor.get(f"/console/classes/{class_id}/signups.csv").content.decode("utf-8")
    assert csv_body.startswith("\ufeff序号") and "'=HYPERLINK" in csv_body and "13712340000" in csv_body
    xlsx = load_workbook(io.BytesIO(editor.get(f"/console/classes/{class_id}/signups.xlsx").content))
    names = [row[2] for row in xlsx.active.iter_rows(values_only=True)]
    assert '\'=HYPERLINK("http://x")' in names

    admin = _login(app, "con-admin")
    masked = admin.get(f"/console/classes/{class_id}/signups")
    assert "137****0000" in masked.text and "13712340000" not in masked.text
    demand = admin.get("/console/demand")
    assert f'data-class-id="{class_id}"' in demand.text and "1371234" not in demand.text
    body = admin.get(
        "/api/v1/admin/demand", params={"city": "jiaxing"}, headers={"Authorization": f"Bearer {admin_token}"}
    )
    row = next(r for r in body.json()["classes"] if r["class_id"] == class_id)
    assert (row["confirmed"], row["waitlisted"], row["demand_exceeds_seats"]) == (1, 1, True)
    assert "1371234" not in body.text
    with session_scope() as session:
        audits = session.scalars(select(AuditEntry.changes)).all()
        assert not any("1371234" in str(a) for a in audits)


def test_more_seats_promote_the_waitlist_and_reviewers_only_read(app, setup) -> None:
    with session_scope() as session:
        res = session.get(Resource, setup["mine"])
        start = date.today() + timedelta(days=9)
        cls = TrainingClass(
            city="jiaxing",
            external_id="CON-PROMOTE",
            resource_id=res.id,
            skill="焊工",
            level=4,
            start_date=start,
            end_date=start + timedelta(days=5),
            schedule="weekday",
            seats_total=1,
            seats_left=1,
            is_sample=True,
        )
        session.add(cls)
        session.flush()
        class_id = cls.id
        create_account(session, username="con-reviewer", password=PASSWORD, role="reviewer", city="jiaxing")
    outcomes = []
    for i in range(3):
        with session_scope() as session:
            outcomes.append(
                sign_up(
                    session,
                    class_id=class_id,
                    name=f"候补{i}",
                    mobile=f"1365555{i:04d}",
                    consent=True,
                    submission_key=new_submission_key(),
                ).signup.id
            )
    editor = _login(app, "con-editor")
    url = f"/console/classes/{class_id}"
    form = {
        "skill": "焊工",
        "level": "4",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=5)).isoformat(),
        "schedule": "weekday",
        "seats_total": "2",
        "seats_left": "1",
        "seats_left_seen": "0",
    }
    assert _post(editor, url, form, page_url=url).status_code == 303
    with session_scope() as session:
        from geo.models import Signup

        status = {s.id: s.status for s in session.scalars(select(Signup).where(Signup.class_id == class_id))}
        assert [status[i] for i in outcomes] == ["confirmed", "confirmed", "waitlisted"]  # the first in line moved up
        assert session.get(TrainingClass, class_id).seats_left == 0

    reviewer = _login(app, "con-reviewer")
    assert reviewer.get("/console/review").status_code == 200
    assert reviewer.get(f"/console/resources/{setup['mine']}").status_code == 200
    assert 'id="resource-form"' not in reviewer.get(f"/console/resources/{setup['mine']}").text
    assert "136****0000" in reviewer.get(f"/console/classes/{class_id}/signups").text
    assert reviewer.get(url).status_code == 403
    assert _post(reviewer, url, form | {"seats_left": "5"}, page_url="/console").status_code == 403
    assert reviewer.get("/console/accounts").status_code == 403


def test_evaluation_sign_ups_are_listed_and_exported_for_the_agency(app, setup, admin_token: str) -> None:
    from geo.models import Evaluation

    with session_scope() as session:
        ev = Evaluation(
            city="jiaxing",
            external_id="CON-EVAL",
            resource_id=setup["mine"],
            skill="电工",
            level=4,
            date=date.today() + timedelta(days=6),
            seats_left=1,
            is_sample=True,
        )
        session.add(ev)
        session.flush()
        eid = ev.id
    for i in range(2):
        with session_scope() as session:
            sign_up(
                session,
                evaluation_id=eid,
                name=f"考生{i}",
                mobile=f"1361234{i:04d}",
                consent=True,
                submission_key=new_submission_key(),
            )
    editor = _login(app, "con-editor")
    card = editor.get(f"/console/resources/{setup['mine']}").text
    row = re.search(rf'<tr data-evaluation-id="{eid}">(.*?)</tr>', card, re.S).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["0", "1", "1"]  # places left, confirmed, waitlist
    assert f"/console/evaluations/{eid}/signups" in row
    page = editor.get(f"/console/evaluations/{eid}/signups")
    assert page.status_code == 200 and "技能等级认定" in page.text
    assert "13612340000" in page.text and 'data-status="waitlisted"' in page.text
    csv_body = editor.get(f"/console/evaluations/{eid}/signups.csv").content.decode("utf-8")
    assert csv_body.startswith("\ufeff序号") and "13612340001" in csv_body and "评价场次为样例" in csv_body
    with session_scope() as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "signups", AuditEntry.entity_id == str(eid))
        ).all()
        assert any((a.changes or {}).get("kind") == "evaluation" for a in audit)
    admin = _login(app, "con-admin")
    masked = admin.get(f"/console/evaluations/{eid}/signups")
    assert "136****0000" in masked.text and "13612340000" not in masked.text
    demand = admin.get("/console/demand").text
    row = re.search(rf'<tr data-evaluation-id="{eid}">(.*?)</tr>', demand, re.S).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["0", "1", "1"] and "1361234" not in demand
    body = admin.get(
        "/api/v1/admin/demand", params={"city": "jiaxing"}, headers={"Authorization": f"Bearer {admin_token}"}
    ).json()
    session_row = next(r for r in body["evaluations"] if r["evaluation_id"] == eid)
    assert (session_row["confirmed"], session_row["waitlisted"], session_row["demand_exceeds_seats"]) == (1, 1, True)
