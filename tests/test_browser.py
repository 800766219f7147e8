"""A real browser: start the app server, drive Debian's Chromium with Playwright, look at
every page, upload a log on the first one, and save a screenshot per page."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from lrcore.logs._write import write_log

ROOT = Path(__file__).parents[1]
CHROMIUM = "/usr/bin/chromium"
PAGES = {"refine": "", "schedules": "schedules", "train": "train", "learn": "learn"}
BAD_TEXT = ("Traceback", "Error:", "Exception")

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app" / "main.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"{url}/_stcore/health", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"the app server did not start: {proc.stdout.read().decode()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: .ci/run installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def settle(page, timeout=60):
    """Wait until the script has finished running and nothing spins."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    deadline = time.time() + timeout
    time.sleep(1.0)
    while time.time() < deadline:
        idle = page.locator('[data-test-script-state="notRunning"]').count() > 0
        if idle and page.locator('[data-testid="stSpinner"]').count() == 0:
            return
        time.sleep(0.3)
    raise AssertionError("the page kept running")


def assert_no_error(page):
    assert page.locator('[data-testid="stException"]').count() == 0
    text = page.locator('[data-testid="stMain"]').inner_text()
    for bad in BAD_TEXT:
        assert bad not in text, text[:2000]


def test_every_page_and_an_upload_in_a_real_browser(server, browser, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    for name, path in PAGES.items():
        page.goto(f"{server}/{path}")
        settle(page)
        assert_no_error(page)
        assert page.locator('[data-testid="stHeading"]').count() > 0
        page.screenshot(path=str(shots / f"{name}.png"))

    log = write_log(
        tmp_path / "upload_wandb.csv", np.arange(300), 1 + np.linspace(3, 0, 300) ** 2, "wandb"
    )
    page.goto(server)
    settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(log))
    page.wait_for_selector("text=upload_wandb.csv · wandb", timeout=60_000)
    settle(page)
    assert_no_error(page)
    assert page.locator(".js-plotly-plot").count() >= 2
    assert page.locator("text=refined").count() > 0
    page.screenshot(path=str(shots / "refine_upload.png"))
    assert sorted(p.name for p in shots.iterdir()) == [
        "learn.png",
        "refine.png",
        "refine_upload.png",
        "schedules.png",
        "train.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in shots.iterdir())  # real pictures, not blank
