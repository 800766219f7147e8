"""A real browser: start the app server, drive Debian's Chromium with Playwright, look at
every page, upload a log on the first one, and run the teaching
demo end to end. Server and browser helpers are those of docs/make_screenshots.py."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from lrcore.logs._write import write_log

sys.path.insert(0, str(Path(__file__).parents[1] / "docs"))
import make_screenshots as shots  # noqa: E402

BAD_TEXT = ("Traceback", "Error:", "Exception")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    with shots.serve() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    assert Path(shots.CHROMIUM).exists(), "Debian's chromium is missing: .ci/run installs it"
    with shots.chromium() as b:
        yield b


def assert_no_error(page):
    assert page.locator('[data-testid="stException"]').count() == 0
    text = page.locator('[data-testid="stMain"]').inner_text()
    for bad in BAD_TEXT:
        assert bad not in text, text[:2000]


def test_every_page_in_a_real_browser(server, browser, tmp_path):
    page = shots.new_page(browser)
    for name, path in shots.PAGES.items():
        page.goto(f"{server}/{path}")
        shots.settle(page, pause=0.2)
        assert_no_error(page)
        assert page.locator('[data-testid="stHeading"]').count() > 0, name
        page.screenshot(path=str(tmp_path / f"{name}.png"))
    assert all(p.stat().st_size > 10_000 for p in tmp_path.iterdir())  # real pictures
    page.close()


def test_an_upload_on_the_refine_page(server, browser, tmp_path):
    log = write_log(
        tmp_path / "upload_wandb.csv", np.arange(300), 1 + np.linspace(3, 0, 300) ** 2, "wandb"
    )
    page = shots.new_page(browser)
    page.goto(server)
    shots.settle(page, pause=0.2)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(log))
    page.wait_for_selector("text=upload_wandb.csv", timeout=shots.PAGE_TIMEOUT * 1000)
    shots.settle(page, pause=0.2)
    assert_no_error(page)
    wait_for_charts(page, 2)
    assert page.locator("text=refined").count() > 0
    page.close()


def wait_for_charts(page, n: int) -> None:
    """At least ``n`` Plotly charts drawn (on a loaded machine they come after the text)."""
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length >= {n}",
        timeout=shots.PAGE_TIMEOUT * 1000,
    )


def test_the_teaching_demo_end_to_end(server, browser):
    """Pick an experiment, wait for its training runs, read the result, open it on Train."""
    page = shots.new_page(browser)
    page.goto(f"{server}/demo")
    shots.settle(page, pause=0.2)
    page.get_by_text("(b) Flat noise").click()
    shots.settle(page, pause=0.2)
    page.get_by_role("button", name=re.compile("Run this experiment")).click()
    page.wait_for_selector("text=Measured: refined ends", timeout=2 * shots.PAGE_TIMEOUT * 1000)
    shots.settle(page, timeout=2 * shots.PAGE_TIMEOUT, pause=0.2)
    assert_no_error(page)
    verdict = page.locator('[data-testid="stMarkdownContainer"]', has_text="Measured: refined ends")
    verdict = verdict.inner_text()
    # the sentence quotes the measured ratio of refined's suboptimality to linear's
    assert re.search(r"refined.*\d+(\.\d+)?× Linear decay", verdict, re.S), verdict
    wait_for_charts(page, 2)
    page.get_by_role("button", name=re.compile("Open this setup")).click()
    page.wait_for_selector("text=Set up as in")
    shots.settle(page, pause=0.2)
    assert_no_error(page)
    assert "flat" in page.locator('[data-testid="stMain"]').inner_text().lower()
    page.close()


def test_stopping_a_server_that_ignores_sigterm_does_not_fail():
    """Teardown on a loaded machine: a server slow to exit is killed, and nothing raises."""
    import subprocess
    import time

    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    proc.stdout.readline()  # SIGTERM is ignored from here on
    start = time.monotonic()
    shots._stop(proc, grace=1)
    assert proc.returncode == -9 and time.monotonic() - start < 30
    shots._stop(proc)  # an ended process: returns at once


def test_a_server_that_exits_before_it_answers_is_an_error_with_its_output():
    """wait_for_health (every test that starts the app) does not wait out its timeout for a
    server that has already ended, and says what the server printed."""
    import subprocess
    import tempfile
    import time

    with tempfile.TemporaryFile() as log:
        code = "print('no module named streamlit_app_here'); raise SystemExit(1)"
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT)
        start = time.monotonic()
        with pytest.raises(RuntimeError, match="no module named streamlit_app_here"):
            shots.wait_for_health(f"http://127.0.0.1:{shots.free_port()}", proc, log, 120)
        assert time.monotonic() - start < 30


def test_make_screenshots_writes_small_pictures_at_both_widths(tmp_path):
    """``python docs/make_screenshots.py --out DIR --phone --pages learn`` (one page: quick)."""
    import subprocess

    from PIL import Image

    script = Path(shots.__file__)
    cmd = [sys.executable, str(script), "--out", str(tmp_path), "--phone", "--pages", "learn"]
    subprocess.run(cmd, check=True, timeout=3 * shots.PAGE_TIMEOUT, capture_output=True)
    files = {p.name: p for p in tmp_path.iterdir()}
    assert sorted(files) == ["learn.png", "learn_phone.png"]
    with Image.open(files["learn.png"]) as im, Image.open(files["learn_phone.png"]) as phone:
        assert im.size == (1400, 1000) and phone.size == (390, 844)
        assert im.mode == "P"  # a 256-colour palette
    assert all(10_000 < p.stat().st_size < 300_000 for p in files.values())
    bad = subprocess.run(
        [sys.executable, str(script), "--pages", "nope"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown page(s) ['nope']" in bad.stderr


def test_a_session_over_the_protocol_alone(server, tmp_path):
    """benchmarks/streamlit_client.py (bench_classroom's students without a browser) does what
    the browser does: pages by address and by link, a widget changed, Start pressed and the
    result polled in the page's fragment, a file uploaded; a missing page is an error."""
    import asyncio
    import concurrent.futures

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from streamlit_client import ProtocolError, Session

    log = write_log(tmp_path / "proto.csv", np.arange(300), 1 + np.linspace(3, 0, 300), "csv")

    async def student() -> list[str]:
        s = Session(server, timeout=shots.PAGE_TIMEOUT * 2)
        # the app's page and a path that answers 404, as a browser's probes do
        assert await s.load_assets(["/", "/learn/_stcore/health"]) > 1000
        await s.connect()
        try:
            await s.open("learn")
            assert s.shows("Why linear decay") and not s.shows("Train and check")
            assert {"", "schedules", "train", "learn", "demo"} <= set(s.pages)
            await s.navigate("train")
            assert s.shows("Train and check")
            await s.set_number("Steps", 40)  # a run of its own, quick
            await s.click("Start")
            assert await s.wait_for("Done:", shots.PAGE_TIMEOUT * 4), s.problems
            assert s.shows(", 40 steps, "), "the results are those of the changed Steps"
            await s.navigate("")
            uploader = next(k for k, (kind, _) in s.widgets.items() if kind == "file_uploader")
            await s.upload(uploader, log.name, log.read_bytes())
            assert s.shows(log.name, besides="file_uploader")  # named by the page, not the box
            with pytest.raises(ProtocolError, match="no page at /nowhere"):
                await s.navigate("nowhere")
            with pytest.raises(ProtocolError, match="no button 'Launch'"):
                await s.click("Launch")
            return s.problems
        finally:
            await s.close()

    # a thread of its own: Playwright's sync API keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, student()).result() == []


def test_train_on_a_fresh_server_does_not_wait_for_the_speed_measurement(monkeypatch):
    """The server measures its speed once, in a child process that imports torch (seconds).
    The first Train page says so at once instead of waiting, then shows the estimate by
    itself, and stops polling after that."""
    import asyncio
    import concurrent.futures
    import time

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from streamlit_client import Session

    async def student(url: str) -> tuple[bool, bool, bool, int]:
        s = Session(url, timeout=shots.PAGE_TIMEOUT)
        await s.connect()
        try:
            await s.open("train")
            measuring = s.shows("measuring this server's speed") and not s.shows("**Estimate**")
            shown = await s.wait_for("**Estimate**", shots.PAGE_TIMEOUT)
            await asyncio.sleep(1)
            before = len(s.texts)
            await asyncio.sleep(5)  # the fragment polled every 2 s while measuring
            return measuring, shown, s.shows("measuring this server's speed"), len(s.texts) - before
        finally:
            await s.close()

    # a server as hosted, runs in worker processes (tests/_apptest.py, once imported by the
    # suite, sets LRCORE_WORKERS=0 for this process and so for the servers it starts)
    monkeypatch.setenv("LRCORE_WORKERS", "1")
    with shots.serve() as url, concurrent.futures.ThreadPoolExecutor(1) as pool:
        start = time.monotonic()
        measuring, shown, still, later = pool.submit(asyncio.run, student(url)).result()
    assert measuring and shown and not still, (measuring, shown, still)
    assert later == 0  # nothing redrawn once the estimate is there
    assert time.monotonic() - start < shots.PAGE_TIMEOUT


def test_a_protocol_student_sees_an_alert_replaced_where_a_fragment_redraws():
    """The Train page's queue line (an st.info in an st.empty) becomes a progress bar in the
    same place when the run starts; a student without a browser kept every alert it was ever
    sent, so bench_classroom counted the run itself as time in the queue."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit_client import Session

    s = Session("http://127.0.0.1:9")

    def element(path: list[int], fill) -> None:
        msg = ForwardMsg()
        msg.metadata.delta_path[:] = path
        fill(msg.delta.new_element)
        s._handle(msg, msg.SerializeToString())

    element([0, 1], lambda e: setattr(e.alert, "body", "Pick a setup"))
    element([0, 4], lambda e: setattr(e.alert, "body", "Your run is queued: position 1 of 1"))
    assert s.alerts == ["Pick a setup", "Your run is queued: position 1 of 1"]
    element([0, 4], lambda e: setattr(e.alert, "body", "Your run is queued: ~3 s"))  # redrawn
    assert s.alerts == ["Pick a setup", "Your run is queued: ~3 s"]
    element([0, 4], lambda e: setattr(e.progress, "value", 5))  # started: a bar in its place
    assert s.alerts == ["Pick a setup"]
