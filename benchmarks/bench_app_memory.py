"""Peak RSS of the app's server (``streamlit run app/main.py``) while a browser uploads
compressed logs on 'Refine a log': a plain CSV, a gzip bomb, a zip bomb, three bombs in
one upload, three sessions uploading one bomb each at the same time, and a real .csv.gz
log of about 160 MiB unpacked that is read.

The server runs on a free local port (docs/make_screenshots.py's ``serve()``); headless
Chromium (Playwright) uploads each case into ``stFileUploaderDropzoneInput`` on a fresh page
(a new session), waits until the page has settled, and checks what it shows: an
``st.error`` for a bomb, the chart and no error for a real log. A thread samples the server
process's RSS (with its children) every 50 ms; each case reports its compressed size, the
peak RSS while it ran, the growth over the idle server (measured after the first page load),
the time from upload to settled page, and the outcome. "before" is the server's RSS when
the case starts: memory the earlier cases' sessions freed may not go back to the system.

Named baseline, in the same run: the idle server, and the plain 100-row CSV upload.
Target (issue 18, item 4): no input of at most 200 MB compressed drives the server above
1.5 GiB; the last line gives the worst peak as a ratio of that target.

    python benchmarks/bench_app_memory.py [--bomb-gib 1] [--big-mib 170]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "docs"))

import bench_memory as mem  # noqa: E402
import make_screenshots as shots  # noqa: E402

TARGET = 1.5 * 1024**3
MiB = 1024**2
ERROR = '[data-testid="stAlertContentError"], [data-testid="stException"]'


class Sampler(threading.Thread):
    """RSS of a process and its children, every ``every`` seconds; ``peak`` since ``reset``."""

    def __init__(self, proc: psutil.Process, every: float = 0.05):
        super().__init__(daemon=True)
        self.proc, self.every = proc, every
        self.peak = 0
        self.stop = threading.Event()

    def rss(self) -> int:
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total

    def reset(self) -> int:
        now = self.rss()
        self.peak = now
        return now

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.every)


def server_process(url: str) -> psutil.Process:
    """The ``streamlit run`` child of this process serving ``url``."""
    port = str(urlparse(url).port)
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = p.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "streamlit" in cmd and port in cmd:
            return p
    raise RuntimeError(f"no streamlit server process for {url}")


def make_inputs(d: Path, bomb_gib: float, big_mib: float) -> dict[str, list[list[Path]]]:
    small = d / "small.csv"
    small.write_text("step,grad_norm\n" + "".join(f"{i},{1 + 1 / (i + 1)}\n" for i in range(100)))
    mem.gzip_bomb(d / "bomb.csv.gz", bomb_gib)
    mem.zip_bomb(d / "bomb.zip", bomb_gib)
    mem.tar_gz_bomb(d / "bomb.tar.gz", bomb_gib)
    unpacked = mem.big_log(d / "big.csv.gz", big_mib)
    bombs = [d / "bomb.csv.gz", d / "bomb.zip", d / "bomb.tar.gz"]
    return {  # case -> the files each session uploads (sessions upload at the same time)
        "plain 100-row CSV (baseline)": [[small]],
        f"gzip bomb ({bomb_gib:g} GiB of digits)": [bombs[:1]],
        f"zip bomb ({bomb_gib:g} GiB)": [bombs[1:2]],
        "3 bombs in one upload (gz+zip+tar.gz)": [bombs],
        "3 sessions at once, one bomb each": [[b] for b in bombs],
        f"real log .csv.gz, {unpacked / MiB:.0f} MiB unpacked": [[d / "big.csv.gz"]],
    }


def upload(browser, url: str, sessions: list[list[Path]], expect_error: bool) -> str:
    """Upload each list of files in ``sessions`` on its own fresh Refine page (a session of
    its own), all at about the same time; return the outcome in words (raises if a page does
    not show what it should)."""
    pages = [shots.new_page(browser) for _ in sessions]
    try:
        for page in pages:
            page.goto(url)
            shots.settle(page, pause=0.2)
        for page, files in zip(pages, sessions, strict=True):
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
                [str(f) for f in files]
            )
        outcomes = [check(p, f, expect_error) for p, f in zip(pages, sessions, strict=True)]
    finally:
        for page in pages:
            page.close()
    return outcomes[0] if len(set(outcomes)) == 1 else " | ".join(outcomes)


def check(page, files: list[Path], expect_error: bool) -> str:
    page.wait_for_selector(f"text={files[-1].name}", timeout=shots.PAGE_TIMEOUT * 1000)
    time.sleep(1.0)  # the upload's rerun starts; settle then polls until it ends
    shots.settle(page, timeout=2 * shots.PAGE_TIMEOUT, pause=0.5)
    errors = page.locator(ERROR)
    if page.locator('[data-testid="stException"]').count():
        raise AssertionError("a traceback on the page")
    if expect_error:
        n = errors.count()
        if n < len(files):
            raise AssertionError(f"{n} error(s) for {len(files)} bomb(s)")
        texts = [errors.nth(i).inner_text() for i in range(n)]
        unnamed = [f.name for f in files if not any(f.name in t for t in texts)]
        if unnamed:
            raise AssertionError(f"no error names {unnamed}")
        return f"{n} st.error: {texts[0].strip().splitlines()[0][:150]}"
    if errors.count():
        raise AssertionError(f"error for a readable log: {errors.first.inner_text()[:200]}")
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 1",
        timeout=shots.PAGE_TIMEOUT * 1000,
    )
    charts = page.locator(".js-plotly-plot").count()
    shown = page.locator('[data-testid="stMain"]').inner_text()
    shown = shown.replace(page.locator('[data-testid="stFileUploader"]').inner_text(), "")
    if files[0].name not in shown:  # the upload is analysed, not the default sample
        raise AssertionError(f"{files[0].name} is not named outside the uploader")
    return f"read: {charts} chart(s), no error"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bomb-gib", type=float, default=1.0)
    ap.add_argument("--big-mib", type=float, default=170.0, help="unpacked size of the real log")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cases = make_inputs(Path(d), args.bomb_gib, args.big_mib)
        with shots.serve() as url, shots.chromium() as browser:
            sampler = Sampler(server_process(url))
            sampler.start()
            try:
                page = shots.new_page(browser)  # first load: the app's imports are done
                page.goto(url)
                shots.settle(page, pause=0.2)
                page.close()
                time.sleep(2)
                idle = sampler.reset()
                print(f"server: {url}, idle after the first page load: RSS {idle / MiB:,.0f} MiB")
                print(
                    f"{'case':<40} {'compressed':>11} {'before':>8} {'peak RSS':>9} {'growth':>9} "
                    f"{'time':>7}  outcome"
                )
                worst = 0
                for name, sessions in cases.items():
                    time.sleep(1)
                    before = sampler.reset()
                    t = time.perf_counter()
                    bomb = "bomb" in name
                    try:
                        outcome = upload(browser, url, sessions, expect_error=bomb)
                    except Exception as e:  # noqa: BLE001 (report it, go on to the next case)
                        outcome = f"FAILED: {type(e).__name__}: {str(e)[:200]}"
                    s = time.perf_counter() - t
                    peak = sampler.peak
                    worst = max(worst, peak)
                    size = sum(f.stat().st_size for files in sessions for f in files) / MiB
                    print(
                        f"{name:<40} {size:>7.1f} MiB {before / MiB:>4,.0f} MiB "
                        f"{peak / MiB:>5,.0f} MiB "
                        f"{(peak - idle) / MiB:>+5,.0f} MiB {s:>6.1f}s  {outcome}",
                        flush=True,
                    )
            finally:
                sampler.stop.set()
                sampler.join()
        verdict = "within" if worst <= TARGET else "ABOVE"
        print(
            f"worst peak server RSS {worst / 1024**3:.2f} GiB = {worst / TARGET:.2f}x the "
            f"1.5 GiB target: {verdict}"
        )


if __name__ == "__main__":
    main()
