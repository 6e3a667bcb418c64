"""The whole flow in Debian's headless chromium: an institution editor logs in and adds a class; a worker
opens the skill code on a phone and signs up for it; the editor sees the sign-up. At 360 px and desktop."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests._maps_browser import DESKTOP, PHONE, axe_violations, browser, horizontal_overflow  # noqa: F401 - fixture
from tests._servers import PATIENCE_S

pytestmark = pytest.mark.browser
PASSWORD = "browser flow 2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(client) -> Iterator[str]:  # the client fixture loads both samples
    import uvicorn

    from api.main import create_app

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE_S
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def institution(server) -> dict:
    """An editor account for one sample training institution, and a skill code posted at it."""
    from geo.accounts import create_account
    from geo.cities import load_city
    from geo.db import session_scope
    from geo.models import Resource
    from geo.skillcodes import Target, create_code

    with session_scope() as session:
        res = session.scalars(
            select(Resource).where(Resource.city == "jiaxing", Resource.category == "training").offset(5).limit(1)
        ).one()
        create_account(
            session,
            username="web-editor",
            password=PASSWORD,
            role="institution_editor",
            city="jiaxing",
            resource_ids=[res.id],
        )
        code = create_code(
            session, load_city("jiaxing"), Target(target_type="resource", resource_id=res.id), actor="test"
        )
        return {"resource_id": res.id, "name": res.name, "code": code.code}


def _phone(chromium):
    context = chromium.new_context(
        viewport={"width": PHONE[0], "height": PHONE[1]}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    return context, context.new_page()


def test_editor_adds_a_class_worker_signs_up_editor_sees_it(browser, server, institution, artifacts) -> None:  # noqa: F811
    # 1. the editor logs in on a phone and adds a class
    ed_ctx, ed = _phone(browser)
    ed.goto(f"{server}/console/login")
    assert horizontal_overflow(ed) <= 0
    ed.fill("#username", "web-editor")
    ed.fill("#password", PASSWORD)
    ed.click("#login")
    ed.wait_for_url(f"{server}/console")
    ed.click(f'section[data-resource-id="{institution["resource_id"]}"] >> text=新增培训班')
    ed.wait_for_selector("#event-form")
    assert horizontal_overflow(ed) <= 0
    start = date.today() + timedelta(days=14)
    ed.fill("#skill", "网约配送员")
    ed.select_option("#level", "5")
    ed.fill("#start_date", start.isoformat())
    ed.fill("#end_date", (start + timedelta(days=10)).isoformat())
    ed.select_option("#schedule", "weekend")
    ed.fill("#seats_total", "3")
    ed.fill("#seats_left", "3")
    ed.fill("#fee", "600")
    ed.click("#save-event")
    ed.wait_for_selector("#saved")
    class_id = int(re.search(r"/console/classes/(\d+)", ed.url).group(1))
    assert axe_violations(ed) == []
    ed.screenshot(path=str(artifacts / "console-class-360.png"), full_page=True)

    # 2. a worker scans the institution's code, opens the class and signs up
    wk_ctx, wk = _phone(browser)
    wk.goto(f"{server}/s/{institution['code']}")
    card = wk.locator(f'li[data-class-id="{class_id}"]')
    card.locator("summary").click()
    card.locator("a.signup-online").click()
    wk.wait_for_selector("#signup-form")
    assert horizontal_overflow(wk) <= 0
    assert "网约配送员" in wk.inner_text("#class-card")
    assert axe_violations(wk) == []
    wk.fill("#name", "赵六")
    wk.fill("#mobile", "139 1234 5678")
    wk.click("#submit")  # without consent: told so, nothing saved
    wk.wait_for_selector("#error")
    assert "同意" in wk.inner_text("#error")
    wk.check("#consent")
    wk.click("#submit")
    wk.wait_for_selector('#status[data-status="confirmed"]')
    reference = wk.inner_text("#reference")
    assert len(reference) >= 10 and "139****5678" in wk.content()
    assert horizontal_overflow(wk) <= 0
    wk.screenshot(path=str(artifacts / "signup-done-360.png"), full_page=True)

    # 3. the editor sees the sign-up, with the full number
    ed.click("#signups-link")
    ed.wait_for_selector("#signups")
    row = ed.locator('#signups tr[data-status="confirmed"]').first
    assert "赵六" in row.inner_text() and "13912345678" in row.inner_text()
    ed.screenshot(path=str(artifacts / "console-signups-360.png"), full_page=True)
    ed_ctx.close()

    # 4. the same pages at desktop size, in English
    desk = browser.new_context(viewport={"width": DESKTOP[0], "height": DESKTOP[1]}, locale="en")
    page = desk.new_page()
    page.goto(f"{server}/signup/r/{reference}?lang=en")
    assert "You are signed up" in page.inner_text("h1") and horizontal_overflow(page) <= 0
    page.click("#cancel-link")
    page.click("#confirm-cancel")
    page.wait_for_selector('#status[data-status="cancelled"]')
    assert "erased" in page.inner_text("main")
    desk.close()
    wk_ctx.close()
