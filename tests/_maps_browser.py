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

from tests._servers import PATIENCE_S

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
        # a portal's own policy (ours would forbid framing another origin): frames from anywhere
        return HTMLResponse(body + "</iframe>", headers={"Content-Security-Policy": "frame-src *"})

    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": socks}, daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE_S
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


def recording_context(
    browser: object, *, viewport: tuple[int, int] = (1280, 860), locale: str = "zh-CN"
) -> tuple[object, Recorder]:
    """A fresh browser context whose pages record every request and abort those for other hosts.

    ``locale`` sets the browser's language (its ``Accept-Language``): Chinese unless a test says otherwise.
    Narrow viewports (under 800 px) get a phone's touch screen.
    """
    rec = Recorder()
    phone = viewport[0] < 800
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        service_workers="block",
        locale=locale,
        has_touch=phone,
        is_mobile=phone,
    )

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


def open_page(
    browser: object, url: str, *, viewport: tuple[int, int] = (1280, 860), locale: str = "zh-CN"
) -> tuple[object, Recorder]:
    """A page of a fresh :func:`recording_context` at ``url``.

    The page is returned once ``SkillCircle.state.ready`` is true and no API call is pending. The page
    load gets :data:`tests._servers.PATIENCE_S`: a province page's first answer is slow on a busy machine.
    """
    context, rec = recording_context(browser, viewport=viewport, locale=locale)
    page = context.new_page()
    # a province page's first answer in the server builds every member city's runtime: a server start's patience
    response = page.goto(url, wait_until="load", timeout=PATIENCE_S * 1000)
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


# ---------------------------------------------------------------------------------------------- page checks
AXE_JS = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
PHONE = (360, 740)
DESKTOP = (1366, 768)
MIN_TARGET_PX = 44

_TARGETS = """(min) => {
  const sel = 'a[href], button, summary, select, textarea, input:not([type=hidden]), [role=button], [tabindex="0"]';
  const out = [];
  for (const node of document.querySelectorAll(sel)) {
    // inline links inside a sentence are exempt (WCAG 2.5.5 "inline"); so is the map attribution line
    if (node.closest('.leaflet-control-attribution, [data-inline-links]')) continue;
    const box = (node.matches('input, select') && node.closest('label')) || node;
    const r = box.getBoundingClientRect();
    const style = getComputedStyle(node);
    if (r.width === 0 || r.height === 0 || style.visibility === 'hidden') continue;
    if (node.closest('[hidden], [aria-hidden="true"], details:not([open]) > :not(summary)')) continue;
    if (r.width + 0.5 < min || r.height + 0.5 < min) {
      const label = node.textContent || node.getAttribute('aria-label') || node.className || '';
      const tag = node.tagName.toLowerCase();
      out.push({tag, text: label.trim().slice(0, 30), w: Math.round(r.width), h: Math.round(r.height)});
    }
  }
  return out;
}"""


def small_targets(page: object, *, minimum: int = MIN_TARGET_PX) -> list[dict]:
    """Visible tap targets (links, buttons, summaries, form fields, markers) smaller than ``minimum`` px."""
    return page.evaluate(_TARGETS, minimum)


def horizontal_overflow(page: object) -> int:
    """How many CSS px the page is wider than the window (0 = no horizontal scroll)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth"
    )


def axe_violations(page: object) -> list[dict]:
    """axe-core's violations on the page (WCAG 2 A/AA and best practices), each with a few failing nodes.

    axe-core comes from the npm registry (``npm ci``, package.json devDependencies) and is evaluated through
    the DevTools protocol rather than a ``<script>`` element, so the page's Content-Security-Policy is
    neither loosened nor bypassed for the rest of the page.
    """
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run `make install` (npm ci installs axe-core)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    return page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ['violations']});
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').slice(0, 160)),
          }));
        }"""
    )


def visible_text(page: object) -> str:
    """The page's rendered text outside ``translate="no"`` elements (institutions' own names, steps…)."""
    return page.evaluate(
        """() => {
          const clone = document.body.cloneNode(true);
          clone.querySelectorAll('[translate=no], script, style, [hidden]').forEach(n => n.remove());
          return clone.textContent.replace(/\\s+/g, ' ');
        }"""
    )
