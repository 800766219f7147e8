"""Offline: no request leaves the host at run time. The app is started as the container starts
it (``lrcore app``, so the settings are the app's own config.toml, not a flag of the test's),
every page is opened in headless Chromium (and the teaching demo run, for its results), and
every request and websocket the pages make is recorded: all must go to the app's own host and
port (or be inline: data:, blob:). Requests to anywhere else are refused, so a page that needed
one would also show up as broken here."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import streamlit

sys.path.insert(0, str(Path(__file__).parents[1] / "docs"))
import make_screenshots as shots  # noqa: E402

pytestmark = pytest.mark.browser

INLINE = ("data", "blob", "about")


def outside(urls: list[str], origin: str) -> list[str]:
    """The URLs that go anywhere but ``origin`` (``http://127.0.0.1:PORT``; its websocket
    counts as the same host), inline ones left out."""
    home = urlsplit(origin)
    return [
        u
        for u in urls
        if urlsplit(u).scheme not in INLINE
        and (urlsplit(u).hostname, urlsplit(u).port) != (home.hostname, home.port)
    ]


def test_outside_tells_the_app_host_from_others():
    origin = "http://127.0.0.1:8765"
    local = [f"{origin}/", "ws://127.0.0.1:8765/_stcore/stream", "data:image/svg+xml,<svg/>"]
    assert outside(local, origin) == []
    others = [
        "https://fonts.gstatic.com/s/i/x.svg",
        "http://127.0.0.1:9/",
        "http://localhost:8765/",
    ]
    assert outside(others, origin) == others


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``lrcore app`` in an empty folder with its own HOME: no .streamlit/ of the checkout's or
    the user's is read, only what the command passes."""
    home = tmp_path_factory.mktemp("home")
    port = shots.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env["HOME"] = str(home)
    cmd = [sys.executable, "-m", "lrcore", "app", "--port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            shots.wait_for_health(url, proc, log)
            yield url
        finally:
            shots._stop(proc)


def _plots(page, at_least: int = 1, wait_s: float = 15.0) -> int:
    """Plotly charts on the page, once ``at_least`` are drawn or ``wait_s`` has passed: their
    frames mount after the script has finished (settle() can return before), so count late."""
    deadline = time.monotonic() + wait_s
    while (n := page.locator(".js-plotly-plot").count()) < at_least:
        if time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    return n


def test_every_page_makes_requests_to_its_own_host_only(server):
    seen: list[str] = []
    with shots.chromium() as browser:
        context = browser.new_context(viewport=shots.DESKTOP)
        context.on("request", lambda r: seen.append(r.url))
        # the app's scripts, as sent (lrcore app serves app/serve.py: compressed)
        scripts: dict[str, str | None] = {}
        context.on(
            "response",
            lambda r: (
                "/static/js/" in r.url
                and scripts.setdefault(r.url, r.headers.get("content-encoding"))
            ),
        )

        def route(r):  # nothing reaches another host, even where this machine could
            (r.abort() if outside([r.request.url], server) else r.continue_())

        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(shots.PAGE_TIMEOUT * 1000)
        page.on("websocket", lambda ws: seen.append(ws.url))
        charts = 0
        for name, path in shots.PAGES.items():
            page.goto(f"{server}/{path}")
            shots.settle(page, pause=0.5)
            assert page.locator('[data-testid="stHeading"]').count() > 0, name
            assert page.locator('[data-testid="stException"]').count() == 0, name
            charts += _plots(page)
        # results too: the teaching demo's runs, their charts and tables (the last page open)
        shots.ACTIONS["demo"](page)
        results = _plots(page, at_least=2)
        icon = page.locator("link[rel='shortcut icon']").get_attribute("href")
        pages_seen = list(seen)
        # the recorder sees a fetch to another host (TEST-NET-1: never routed)
        page.evaluate("fetch('http://192.0.2.1/probe').catch(() => 0)")
        page.wait_for_timeout(500)
        context.close()
    assert outside(pages_seen, server) == []
    assert any("/_stcore/stream" in u for u in pages_seen)  # the app's websocket was recorded
    assert len(pages_seen) > 20 and charts >= 2  # real pages with charts, not an empty shell
    assert results >= 2, results
    assert icon and icon.startswith("data:image/svg+xml"), icon  # the page icon is inline
    assert outside(seen, server) == ["http://192.0.2.1/probe"]
    # every script came gzip-compressed but for the few that compress by less than a tenth
    # (a few hundred bytes each), the chart library's bundle (4.7 MB) among them
    files = Path(streamlit.__file__).parent / "static" / "static" / "js"
    plain = {u.rsplit("/", 1)[1] for u, enc in scripts.items() if enc != "gzip"}
    sizes = {
        n: ((files / n).stat().st_size, len(gzip.compress((files / n).read_bytes()))) for n in plain
    }
    assert len(scripts) > 50 and len(plain) < len(scripts) / 5, plain
    assert all(packed >= 0.9 * raw for raw, packed in sizes.values()), sizes
    assert [enc for u, enc in scripts.items() if "/PlotlyChart." in u] == ["gzip"], scripts
