"""Browser-test support for the map pages: a live uvicorn server on 127.0.0.1 and Debian's headless chromium.

Imported by ``tests/test_maps.py`` and ``tests/test_maps_gcj.py`` (the fixtures are re-exported there).
The server runs the real application in a thread of the test process, on a socket bound to a free
port of 127.0.0.1, against the session's database (both samples) and the demo city's compiled graphs.
Every page request the browser makes is recorded; requests to any other host are aborted and kept in
``Recorder.external`` so a test can assert that nothing left 127.0.0.1.
"""

from __future__ import annotations

import html
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-quic",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1"}


@dataclass
class LiveServer:
    """The application served by uvicorn on ``url`` (``http://127.0.0.1:<port>``).

    ``other_url`` is the same server on a second port: another origin, for cross-origin framing tests.
    """

    url: str
    other_url: str
    thread: threading.Thread
    server: object


@pytest.fixture(scope="module")
def live_server(jiaxing_sample: Path, demo_sample: Path, demo_network: Path) -> Iterator[LiveServer]:
    """uvicorn on a free port of 127.0.0.1 with both samples and the demo network (routing)."""
    import uvicorn
    from fastapi.responses import HTMLResponse

    from api.main import create_app
    from api.state import reset_runtimes

    reset_runtimes()  # engines created before the demo graphs existed would stay in estimate mode
    socks = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
    ports = [s.getsockname()[1] for s in socks]
    app = create_app()

    @app.get("/__test__/portal", include_in_schema=False)
    def _portal(src: str) -> HTMLResponse:
        """A stand-in portal page (no CSP of ours) that frames ``src``: for frame-ancestors tests."""
        body = f'<!DOCTYPE html><title>portal</title><iframe id="f" src="{html.escape(src)}" width="640" height="420">'
        return HTMLResponse(body + "</iframe>")

    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": socks}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the live uvicorn server did not start")
        time.sleep(0.02)
    yield LiveServer(
        url=f"http://127.0.0.1:{ports[0]}", other_url=f"http://127.0.0.1:{ports[1]}", thread=thread, server=server
    )
    server.should_exit = True
    thread.join(timeout=10)
    for sock in socks:
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's headless chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).is_file() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: run `bash scripts/system-deps.sh`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@dataclass
class Recorder:
    """Every URL a page requested, and the ones that were for another host (aborted)."""

    requests: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def assert_local_only(self) -> None:
        """Fail unless every request went to 127.0.0.1."""
        assert self.requests, "no request was recorded"
        assert not self.external, f"requests left 127.0.0.1: {self.external[:5]}"


def recording_context(browser: object, *, viewport: tuple[int, int] = (1280, 860)) -> tuple[object, Recorder]:
    """A fresh browser context whose pages record every request and abort those for other hosts."""
    rec = Recorder()
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, service_workers="block")

    def _route(route: object) -> None:
        req_url = route.request.url
        if urlsplit(req_url).hostname in LOCAL_HOSTS or req_url.startswith(("data:", "about:", "blob:")):
            route.continue_()
        else:
            rec.external.append(req_url)
            route.abort()

    context.route("**/*", _route)
    context.on("request", lambda req: rec.requests.append(req.url))
    context.on("console", lambda msg: rec.console_errors.append(msg.text) if msg.type == "error" else None)
    context.on("weberror", lambda err: rec.console_errors.append(str(err.error)))
    return context, rec


def open_page(browser: object, url: str, *, viewport: tuple[int, int] = (1280, 860)) -> tuple[object, Recorder]:
    """A page of a fresh :func:`recording_context` at ``url``.

    The page is returned once ``SkillCircle.state.ready`` is true and no API call is pending.
    """
    context, rec = recording_context(browser, viewport=viewport)
    page = context.new_page()
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, f"{url} answered {response and response.status}"
    try:
        wait_idle(page)
    except Exception as exc:
        msg = f"{url} never became ready; console: {rec.console_errors}; external: {rec.external[:5]}"
        raise AssertionError(msg) from exc
    return page, rec


def wait_idle(page: object, *, timeout_ms: int = 20000) -> None:
    """Wait until the page script is attached and no API request is pending."""
    page.wait_for_function(
        "() => window.SkillCircle && SkillCircle.state.ready && SkillCircle.state.pending === 0", timeout=timeout_ms
    )


def shoot(page: object, artifacts: Path, name: str) -> Path:
    """Save a full-window screenshot as ``test-artifacts/<name>.png`` and return its path."""
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"screenshot {path} looks empty"
    return path
