"""Fixtures for checks of the built book: the HTML folder, a local server, headless Chromium."""
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require(reason: str):
    """Fail where CI requires the book checks (KEXUE_REQUIRE_BROWSER=1), else skip with how-to."""
    if os.environ.get("KEXUE_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def html_dir() -> Path:
    if not (HTML / "index.html").exists():
        _require(f"no built book in {HTML}: run `make book` first")
    return HTML


@pytest.fixture(scope="session")
def server(html_dir):
    """Serve the built HTML on 127.0.0.1 (a random free port)."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def chromium_path() -> str | None:
    for name in (os.environ.get("KEXUE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if name and Path(name).exists():
            return name
    return None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        _require("Chromium not found: install Debian's `chromium` (apt-get install chromium) or set "
                 "KEXUE_CHROMIUM to a Chromium binary to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def offline_page(browser, server):
    """A page whose requests outside the local server are blocked and recorded, with its console
    errors, failed requests and page errors collected in ``page.kexue_problems``."""
    context = browser.new_context()
    page = context.new_page()
    problems = []
    blocked = []

    def route(r):
        if r.request.url.startswith(server) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.kexue_problems, page.kexue_blocked, page.kexue_base = problems, blocked, server
    yield page
    context.close()


@pytest.fixture
def standalone_page(browser, tmp_path):
    """``open(body, name)``: ``body`` alone in a local file page, opened offline (any request but
    file: and data: is blocked and recorded in ``page.kexue_blocked``), with console errors and
    page errors collected in ``page.kexue_problems``. The pages close with the test."""
    contexts = []

    def open_page(body: str, name: str):
        path = tmp_path / f"{name}.html"
        path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{name}</title>"
                        f"</head><body>{body}</body></html>", encoding="utf-8")
        context = browser.new_context()
        contexts.append(context)
        problems, blocked = [], []

        def route(r):
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console",
                lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(path.as_uri(), wait_until="load")
        page.kexue_problems, page.kexue_blocked = problems, blocked
        return page

    yield open_page
    for context in contexts:
        context.close()
