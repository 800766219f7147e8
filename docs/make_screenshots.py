"""Regenerate the README pictures: ``python docs/make_screenshots.py [--out DIR] [--phone]
[--pages refine,demo] [--port N]``.

Starts the app on a free local port (or ``--port``), opens each page in headless Chromium
(Debian's ``/usr/bin/chromium``, driven by Playwright) at 1400 x 1000, runs its default
action (Start on 'Train and check', Run on 'See it work') so the picture shows results,
waits until everything is drawn and saves ``DIR/<page>.png`` (default ``docs/screenshots``),
reduced to a 256-colour palette so each stays well under 300 KB. ``--phone`` adds
``<page>_phone.png`` at 390 x 844; ``--pages`` picks some pages. The browser test
(``tests/test_browser.py``) uses the same server, browser and waiting helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
PAGES = {"refine": "", "schedules": "schedules", "train": "train", "learn": "learn", "demo": "demo"}
PAGES_NOW = dict(PAGES)  # what shoot() visits (main's --pages)
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# limits for a slow machine (a loaded 2-core box): every wait below polls a condition and
# returns as soon as it holds; these only bound how long a broken page can keep a test waiting
START_TIMEOUT = 180  # seconds for the server to answer its health check
PAGE_TIMEOUT = 180  # seconds for a page to finish its script and draw its charts


@contextlib.contextmanager
def serve(port: int | None = None, timeout: float = START_TIMEOUT) -> Iterator[str]:
    """Run ``streamlit run app/main.py`` on ``port`` (a free one when None); yield its URL.
    The server's output goes to a temporary file (a pipe nobody reads would fill and block it);
    stopping it never raises: terminate, then kill if it has not ended within 30 s."""
    port = port or free_port()
    with tempfile.TemporaryFile() as log:
        yield from _serve_logged(port, timeout, log)


def _serve_logged(port: int, timeout: float, log) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            *("-m", "streamlit", "run", str(ROOT / "app" / "main.py")),
            *("--server.port", str(port), "--server.address", "127.0.0.1"),
            *("--server.headless", "true", "--browser.gatherUsageStats", "false"),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, proc, log, timeout)
        yield url
    finally:
        _stop(proc)


def wait_for_health(url: str, proc: subprocess.Popen, log, timeout: float = START_TIMEOUT) -> None:
    """Return once the app server ``proc`` at ``url`` answers its health check; RuntimeError
    with the end of its output (the file ``log``) when it exits first or ``timeout`` seconds
    pass. The caller stops it."""
    import requests

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/_stcore/health", timeout=5).ok:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            output = log.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"the app server did not start within {timeout} s: {output}")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen, grace: float = 30) -> None:
    """End the server: SIGTERM, up to ``grace`` seconds to exit, then SIGKILL; never raises."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def new_page(browser, viewport=None):
    """A page whose Playwright waits (clicks, uploads, selectors) allow ``PAGE_TIMEOUT``."""
    page = browser.new_page(viewport=viewport or DESKTOP)
    page.set_default_timeout(PAGE_TIMEOUT * 1000)
    return page


@contextlib.contextmanager
def chromium() -> Iterator:
    """Headless Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: apt-get install --no-install-recommends chromium"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                *("--no-sandbox", "--disable-gpu", "--disable-background-networking"),
                *("--disable-component-update", "--no-first-run", "--disable-sync"),
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def settle(page, timeout: float = PAGE_TIMEOUT, pause: float = 1.5) -> None:
    """Wait until the script has finished running, nothing spins and every chart and table
    is drawn; then ``pause`` seconds for the last frames."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    deadline = time.time() + timeout
    time.sleep(0.5)
    while time.time() < deadline:
        # "notRunning" is also the state before the first run starts: a heading (every page
        # has one) says the script has run
        idle = page.locator('[data-test-script-state="notRunning"]').count() > 0
        ran = page.locator('[data-testid="stHeading"]').count() > 0
        if idle and ran and page.locator('[data-testid="stSpinner"]').count() == 0 and drawn(page):
            time.sleep(pause)
            return
        time.sleep(0.3)
    raise AssertionError("the page kept running")


def drawn(page) -> bool:
    """Every visible chart and table has been drawn (plotly and the table grid load after the
    script; those in a closed expander or another tab draw only when opened)."""
    charts = page.locator('[data-testid="stPlotlyChart"]:visible').count()
    tables = page.locator('[data-testid="stDataFrame"]:visible').count()
    return (
        page.locator('[data-testid="stPlotlyChart"]:visible .main-svg').count() >= charts
        and page.locator('[data-testid="stDataFrame"]:visible canvas').count() >= tables
    )


def shrink(path: Path) -> None:
    """Reduce a screenshot to a 256-colour palette (about 3x smaller, same look)."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def press(label: str, until: str | None = None):
    """An action: click the button labelled ``label`` and wait for the page to finish (and,
    with ``until``, for that text: Train and check's runs go on in the worker pool while the
    page idles between polls)."""

    def act(page) -> None:
        page.get_by_role("button", name=label).first.click()
        time.sleep(1.0)  # the click's rerun starts (then settle polls until it has ended)
        if until:
            page.wait_for_selector(f"text={until}", timeout=2 * PAGE_TIMEOUT * 1000)
        settle(page, timeout=2 * PAGE_TIMEOUT)

    return act


# what a page should show in a picture: the results of its default setup, not an empty form
ACTIONS = {"train": press("Start", until="Done:"), "demo": press("Run this experiment")}


def shoot(browser, url: str, out: Path, viewport: dict, suffix: str = ""):
    """Screenshot every page at ``viewport`` (after its action, if any); returns the paths."""
    page = new_page(browser, viewport)
    paths = []
    for name, path in PAGES_NOW.items():
        page.goto(f"{url}/{path}")
        settle(page)
        if name in ACTIONS:
            ACTIONS[name](page)
        target = out / f"{name}{suffix}.png"
        page.screenshot(path=str(target))
        shrink(target)
        paths.append(target)
    page.close()
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--phone", action="store_true", help="also 390 x 844 shots")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument(
        "--pages", default=",".join(PAGES), help=f"comma-separated, of {', '.join(PAGES)}"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.pages.split(",")) - set(PAGES))
    if unknown:
        parser.error(f"--pages: unknown page(s) {unknown}; pick from {list(PAGES)}")
    PAGES_NOW.clear()
    PAGES_NOW.update({k: v for k, v in PAGES.items() if k in args.pages.split(",")})
    args.out.mkdir(parents=True, exist_ok=True)
    with serve(args.port) as url, chromium() as browser:
        paths = shoot(browser, url, args.out, DESKTOP)
        if args.phone:
            paths += shoot(browser, url, args.out, PHONE, "_phone")
    for p in paths:
        print(f"{p} ({p.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
