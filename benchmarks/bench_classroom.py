"""A class at once: N students open the dashboard together (issue 26, item 6).

Starts the app server itself (``streamlit run app/serve.py --server.headless true``, what
``lrcore app`` and the Dockerfile serve; ``--script main.py`` for ``streamlit run app/main.py``,
whose frontend files go uncompressed; on a free local port, a fresh server for each N so that
no cache is carried from one N to the next) and
drives N students, one session each, all starting together. ``--browsers`` of them (default 3,
spread over the class) are tabs of one headless Chromium (Playwright, ``/usr/bin/chromium``):
their page time is the page drawn, as a student sees it. The others speak the app's own
websocket protocol (``streamlit_client.py``: the messages the browser's Streamlit frontend
sends, a fragment's timed reruns and a file's upload included) and draw nothing: in a class,
each student's browser runs on their own laptop, and 30 Chromium tabs on the host under test
measured mostly themselves (they took 1,242 of 2,093 core-seconds of a 30-student run, the
server 291). Their page time is the server's: the page asked for to its script finished, every
element received. ``--browsers N`` puts the whole class in Chromium here, as before.

Each student opens one page by its address (a new session; the first page differs from
student to student), visits every other page through the sidebar, then does one thing, by
turn (student i does ``ROLES[i % 5]``):

- ``train default``: Start on 'Train and check' with the default setup (identical for all);
- ``train changed``: the same with Steps changed (1000 - 10 (k + 1) for the k-th such student:
  a different run for each);
- ``see it work``: Run this experiment on 'See it work' (computed once, shared);
- ``upload``: a small log generated with the student's seed uploaded on 'Refine a log';
- ``visit``: one more tour of the pages.

With ``--students 1`` one student does each of the five in turn (each in a fresh session).
``--mix default``: every student presses Start on the default setup (the issue's
"10 students, results <= 60 s" target).

Measured: page time (in Chromium: from navigation to the page's heading, every visible chart
and table drawn (a chart still loading its code shows a placeholder: not drawn), the script
finished (``data-test-script-state``: before, the heading shows with the rest not yet sent),
all of it at two polls 0.1 s apart; over the protocol: to the script finished with the page's
heading among its elements), p50 and p95 over all visits, and per page below the table; wait
for results (Start to the "Done:" line; Run to the results; upload to the page naming the
log); the server's peak RSS (psutil: the server and its child processes, sampled every 0.2 s);
CPU seconds of the server, its workers, the browsers and this benchmark; errors (exceptions
or st.error shown, tracebacks, JavaScript errors, lost sessions: a closed websocket or a
connection-error dialog, and timeouts). Any queue line the page shows while a run waits
("queued: position 3 ...") is collected and its first few are printed.

Targets (issue 26, 2 cores): 10 students' default runs all have results <= 60 s; with 30
students every page's p95 <= 5 s, no error, no lost session, server RSS <= 4 GB.

    python benchmarks/bench_classroom.py                  # N = 1, 10, 30
    python benchmarks/bench_classroom.py --students 1,10
    python benchmarks/bench_classroom.py --students 10 --mix default
    python benchmarks/bench_classroom.py --students 30 --browsers 30   # all in Chromium here
    python benchmarks/bench_classroom.py --students 30 --warm  # the teacher opened it first
    python benchmarks/bench_classroom.py --cold           # each page first on a cold server
    python benchmarks/bench_classroom.py --server-cores 0  # server and workers on core 0, the
                                                          # class (students, Chromium) on the rest
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
from streamlit_client import ProtocolError, Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
import make_screenshots as shots  # noqa: E402 - the app server's health wait and stop

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# page -> (address, the start of its heading, its label in the sidebar)
PAGES = {
    "Refine": ("", "Refine a gradient-norm log", "Refine a log"),
    "Schedules": ("schedules", "Compare schedules", "Schedules"),
    "Train": ("train", "Train and check", "Train and check"),
    "Learn": ("learn", "Why linear decay", "Learn"),
    "See it work": ("demo", "See it work", "See it work"),
}
ROLES = ("train default", "train changed", "see it work", "upload", "visit")
QUEUE = re.compile(r"[^\n]*\b(?:queued|queue|position)\b[^\n]*", re.IGNORECASE)
ESTIMATE = re.compile(r"estimated wait ~((?:\d[\d,]* (?:h|min|s) ?)+)")


def seconds(text: str) -> float:
    """``"1 min 2 s"`` -> 62.0 (what :func:`lrcore.train.cost.duration` writes).

    >>> seconds("1 min 2 s"), seconds("45 s"), seconds("2 h 5 min")
    (62.0, 45.0, 7500.0)
    """
    unit = {"h": 3600.0, "min": 60.0, "s": 1.0}
    return sum(
        float(n.replace(",", "")) * unit[u] for n, u in re.findall(r"([\d,]+) (h|min|s)", text)
    )


MiB = 1024**2
VERBOSE = False  # --verbose: every step on stderr

# the page has finished: its script is not running, its heading is shown, nothing spins, no
# element is left stale from the last run or still a placeholder, and every visible chart and
# table has been drawn; all of it at two polls in a row (a page that polls in an
# st.fragment(run_every) runs its fragment every second, briefly)
DRAWN_JS = """([title, name]) => {
  // drawn: every check below true at two polls in a row (the counter is reset by drawn())
  const ok = (() => {
  // the script has finished: before, the heading may show with the rest not yet sent
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stSpinner"]')) return false;
  if (document.querySelector('[data-testid="stMain"] [data-stale="true"]')) return false;
  const live = e => e.offsetParent !== null && !e.closest('[data-stale="true"]');
  const heads = [...document.querySelectorAll('h1')].filter(live);
  if (!heads.some(h => h.innerText.trim().startsWith(title))) return false;
  // an element whose code is still downloading (the chart library: 4.7 MB) is a placeholder
  if ([...document.querySelectorAll('[data-testid="stMain"] [data-testid="stSkeleton"]')]
      .some(live)) return false;
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(live);
  if (charts.some(c => !c.querySelector('.main-svg'))) return false;
  // a table draws its canvas once scrolled into view
  const seen = e => e.getBoundingClientRect().top < window.innerHeight;
  const tables = [...document.querySelectorAll('[data-testid="stDataFrame"]')]
    .filter(live).filter(seen);
  if (tables.some(t => !t.querySelector('canvas'))) return false;
  if (name) {
    const main = document.querySelector('[data-testid="stMain"]');
    const up = main && main.querySelector('[data-testid="stFileUploader"]');
    const text = (main ? main.innerText : '').replace(up ? up.innerText : '', '');
    if (!text.includes(name)) return false;
  }
  return true;
  })();
  window.__benchDrawn = ok ? (window.__benchDrawn || 0) + 1 : 0;
  return window.__benchDrawn >= 2;
}"""
STATE_JS = """() => ({
  state: [...document.querySelectorAll('[data-test-script-state]')].map(
    e => e.getAttribute('data-test-script-state')),
  spinners: document.querySelectorAll('[data-testid="stSpinner"]').length,
  stale: document.querySelectorAll('[data-stale="true"]').length,
  h1: [...document.querySelectorAll('h1')].map(h => h.innerText.slice(0, 40)),
  charts: [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].map(
    c => [c.offsetParent !== null, !!c.querySelector('.main-svg')]),
  tables: [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(
    c => [c.offsetParent !== null, !!c.querySelector('canvas'),
          Math.round(c.getBoundingClientRect().top)]),
})"""
PROBLEMS_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const out = [];
  for (const e of document.querySelectorAll('[data-testid="stException"]'))
    out.push('exception: ' + e.innerText.slice(0, 200));
  for (const e of document.querySelectorAll('[data-testid="stAlertContentError"]'))
    out.push('st.error: ' + e.innerText.slice(0, 200));
  const text = document.body.innerText;
  if (text.includes('Traceback (most recent call last)')) out.push('traceback shown');
  if (text.includes('Connection error') || text.includes('Is Streamlit still running'))
    out.push('lost session: connection error shown');
  return out;
}"""


# ----------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SCRIPT = "serve.py"  # --script
SERVER_CORES: set[int] = set()  # --server-cores: the server's CPUs (empty: all)
SERVER_LOGS: list[str] = []  # each server's output, kept for the report (its exceptions)


@contextlib.contextmanager
def serve(timeout: float = 180, script: str | None = None):
    """``streamlit run app/SCRIPT`` (or ``script``) on a free port; yields (url,
    psutil.Process). The
    server's output is kept in :data:`SERVER_LOGS` (a page's "This app has encountered an
    error" is explained there only)."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / (script or SCRIPT))]
    cmd += ["--server.headless", "true", "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        # this checkout's lrcore, also where another one is installed (a benchmark of an
        # older commit unpacked elsewhere)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        cores = SERVER_CORES  # its workers and the speed measurement inherit them
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
        )
        try:
            shots.wait_for_health(url, proc, log, timeout)
            yield url, psutil.Process(proc.pid)
        finally:
            shots._stop(proc)
            log.seek(0)
            SERVER_LOGS.append(log.read().decode(errors="replace"))


class Sampler(threading.Thread):
    """The peak RSS of a process and all its children, sampled every ``every`` seconds, and
    the CPU seconds of the server, its worker processes and this benchmark's own Chromium
    processes (last value seen per process: the students' browsers share the host's cores
    with the server in this benchmark, not in a classroom)."""

    def __init__(self, proc: psutil.Process, every: float = 0.2):
        super().__init__(daemon=True)
        self.proc, self.every, self.peak = proc, every, 0
        self.halt = threading.Event()
        self.cpu: dict[str, dict[int, float]] = {
            "server": {},
            "workers": {},
            "browsers": {},
            "benchmark": {},  # this process (the protocol students) and Playwright's driver
        }

    def rss(self) -> int:
        total = 0
        with contextlib.suppress(psutil.NoSuchProcess):
            for p in [self.proc, *self.proc.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += p.memory_info().rss
        return total

    def _cpu(self) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = self.proc.cpu_times()
            self.cpu["server"][self.proc.pid] = t.user + t.system
            for p in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    t = p.cpu_times()
                    self.cpu["workers"][p.pid] = t.user + t.system
        me = psutil.Process()
        for p in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                if p.pid == self.proc.pid or self.proc.pid in {q.pid for q in p.parents()}:
                    continue  # the server's own
                chrome = "chrom" in p.name() or "headless_shell" in p.name()
                t = p.cpu_times()
                self.cpu["browsers" if chrome else "benchmark"][p.pid] = t.user + t.system

    def cpu_seconds(self) -> dict[str, float]:
        return {k: sum(v.values()) for k, v in self.cpu.items()}

    def run(self) -> None:
        while not self.halt.is_set():
            self.peak = max(self.peak, self.rss())
            self._cpu()
            time.sleep(self.every)


# ----------------------------------------------------------------------------- one student
@dataclass
class Record:
    pages: dict[str, list[float]] = field(default_factory=dict)  # page -> seconds per visit
    # the same, for students without a browser here: the server's time per page
    server_pages: dict[str, list[float]] = field(default_factory=dict)
    waits: dict[str, list[float]] = field(default_factory=dict)  # action -> seconds
    errors: list[str] = field(default_factory=list)
    queue: list[str] = field(default_factory=list)  # queue lines seen while waiting
    # per queued run, every estimate it showed: (seconds since it was first seen queued, the
    # estimated wait, the seconds it then still waited until no queue line showed)
    estimates: list[list[tuple[float, float, float]]] = field(default_factory=list)


class Student:
    """A student in a headless Chromium tab on this host: page time is the page drawn."""

    server = False

    def __init__(self, name: str, browser, url: str, rec: Record, timeout: float):
        self.name, self.browser, self.url, self.rec, self.timeout = name, browser, url, rec, timeout
        self.page = None
        self.current = None

    async def open(self, first: str) -> None:
        self.ctx = await self.browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = await self.ctx.new_page()
        self.page.set_default_timeout(self.timeout * 1000)
        self.page.on("pageerror", lambda e: self.error(f"javascript error: {str(e)[:150]}"))
        self.page.on("websocket", self._watch)
        await self.visit(first, by_address=True)

    def _watch(self, ws) -> None:
        ws.on("close", lambda _: self.closing or self.error("lost session: websocket closed"))

    closing = False

    async def close(self) -> None:
        if self.page is not None:
            await self.problems()
        self.closing = True
        with contextlib.suppress(Exception):
            await self.ctx.close()

    def error(self, what: str) -> None:
        self.rec.errors.append(f"{self.name}: {what}")
        self.say(f"ERROR {what}")

    def say(self, what: str) -> None:
        if VERBOSE:
            print(f"  {time.strftime('%H:%M:%S')} {self.name}: {what}", file=sys.stderr, flush=True)

    async def problems(self) -> None:
        with contextlib.suppress(Exception):
            for p in await self.page.evaluate(PROBLEMS_JS):
                if f"{self.name}: {p}" not in self.rec.errors:
                    self.error(p)

    async def drawn(self, page: str, name: str | None = None) -> bool:
        """Wait until ``page`` is drawn (and names ``name``); False (an error) on a timeout."""
        try:
            await self.page.evaluate("() => { window.__benchDrawn = 0; }")
            await self.page.wait_for_function(
                DRAWN_JS, arg=[PAGES[page][1], name], polling=100, timeout=self.timeout * 1000
            )
            return True
        except Exception as e:  # noqa: BLE001 - a timeout (or a closed page) is a result
            self.error(f"timeout: {page} not drawn ({type(e).__name__})")
            with contextlib.suppress(Exception):
                self.say(f"the page then: {await self.page.evaluate(STATE_JS)}")
            return False

    async def visit(self, page: str, by_address: bool = False) -> None:
        start = time.perf_counter()
        if by_address:
            await self.page.goto(f"{self.url}/{PAGES[page][0]}")
        else:
            nav = self.page.locator('[data-testid="stSidebarNav"] a')
            await nav.filter(has_text=PAGES[page][2]).first.click()
        if await self.drawn(page):
            self.rec.pages.setdefault(page, []).append(took := time.perf_counter() - start)
            self.say(f"{page} drawn in {took:.2f} s")
        self.current = page
        await self.problems()

    async def tour(self, first: str) -> None:
        names = list(PAGES)
        k = names.index(first)
        for page in names[k + 1 :] + names[:k]:
            await self.visit(page)

    async def _look(self, text: str) -> tuple[list[str], bool, str | None]:
        """What the page shows now: the texts to read queue lines from, whether ``text`` is
        among them, and what went wrong if anything did."""
        body = await self.page.evaluate(
            "() => (document.querySelector('[data-testid=\"stMain\"]') || {}).innerText || ''"
        )
        problem = "traceback while waiting" if "Traceback (most recent call last)" in body else None
        return [body], text in body, problem

    async def wait_text(self, text: str, action: str, start: float) -> bool:
        """Poll the page until ``text`` shows; collect queue lines meanwhile, and each
        estimated wait against the seconds until the run then left the queue."""
        seen: list[tuple[float, float]] = []  # (seen at, the estimate shown)
        counted = False
        while time.perf_counter() - start < self.timeout:
            sources, found, problem = await self._look(text)
            lines = [line.strip() for source in sources for line in QUEUE.findall(source)]
            for line in lines:
                if line and line[:120] not in self.rec.queue:
                    self.rec.queue.append(line[:120])
            # the latest line, should the page show more than one
            guess = next((m for line in reversed(lines) if (m := ESTIMATE.search(line))), None)
            if guess and not counted:
                seen.append((time.perf_counter(), seconds(guess.group(1))))
            elif seen and not guess and not counted:  # started (or done)
                left = time.perf_counter()
                self.rec.estimates.append([(t - seen[0][0], e, left - t) for t, e in seen])
                counted = True
            if found:
                return True
            if problem:
                self.error(f"{problem} for {action}")
                return False
            await asyncio.sleep(0.5)
        self.error(f"timeout: no '{text}' for {action} in {self.timeout:.0f} s")
        return False

    async def _set_steps(self, steps: int) -> None:
        box = self.page.locator('[data-testid="stNumberInput"]').filter(has_text="Steps")
        await box.locator("input").fill(str(steps))
        await box.locator("input").press("Enter")
        await asyncio.sleep(0.5)  # the change's rerun starts
        await self.drawn("Train")

    async def _press(self, label: str) -> None:
        await self.page.get_by_role("button", name=label).first.click()

    async def _after(self, page: str) -> bool:
        """The page drawn again once a result came (nothing to wait for without a browser)."""
        return await self.drawn(page)

    async def train(self, steps: int | None) -> None:
        action = "train default" if steps is None else "train changed"
        if self.current != "Train":
            await self.visit("Train")
        if steps is not None:
            await self._set_steps(steps)
        start = time.perf_counter()
        await self._press("Start")
        self.say(f"{action}: Start pressed")
        if await self.wait_text("Done:", action, start):
            self.rec.waits.setdefault(action, []).append(took := time.perf_counter() - start)
            self.say(f"{action}: Done after {took:.1f} s")
        await self._after("Train")

    async def demo(self) -> None:
        if self.current != "See it work":
            await self.visit("See it work")
        start = time.perf_counter()
        await self._press("Run this experiment")
        # the experiment's own result (the page's language-model section has metrics too)
        if await self.wait_text("refined: objective", "see it work", start) and await self._after(
            "See it work"
        ):
            self.rec.waits.setdefault("see it work", []).append(took := time.perf_counter() - start)
            self.say(f"see it work: results after {took:.1f} s")

    async def upload(self, path: Path) -> None:
        if self.current != "Refine":
            await self.visit("Refine")
        start = time.perf_counter()
        await self.page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            str(path)
        )
        await asyncio.sleep(0.3)  # the upload's rerun starts
        if await self.drawn("Refine", name=path.name):
            self.rec.waits.setdefault("upload", []).append(time.perf_counter() - start)


class ProtoStudent(Student):
    """A student whose browser is elsewhere (a laptop in the class): the app's own websocket
    protocol (:class:`streamlit_client.Session`), nothing drawn on this host. Their page time
    is the server's: from the page asked for to the script finished, every element received,
    after the files its browser would fetch for that page (once per student)."""

    server = True

    assets: dict[str, list[str]] = {}  # page -> the files a browser needs for it

    def __init__(self, name: str, url: str, rec: Record, timeout: float):
        super().__init__(name, None, url, rec, timeout)
        self.s: Session | None = None
        self.fetched: set[str] = set()  # a browser keeps the app's files (immutable cache)

    async def _files(self, page: str) -> None:
        """The files this page needs that this student's browser has not fetched yet."""
        todo = [p for p in self.assets.get(page, []) if p not in self.fetched]
        self.fetched.update(todo)
        await self.s.load_assets(todo)

    async def open(self, first: str) -> None:
        self.s = Session(self.url, self.timeout)

        async def first_page() -> float:  # as a browser: the page's files, then the page
            start = time.perf_counter()
            await self._files(first)
            await self.s.connect()
            await self.s.open(PAGES[first][0])
            return time.perf_counter() - start

        await self._page(first, first_page())

    async def _page(self, page: str, run) -> None:
        try:
            took = await run
        except ProtocolError as e:
            self.error(f"timeout: {page} not drawn ({e})")
            return
        finally:
            self.current = page
            await self.problems()
        if any(h.strip().startswith(PAGES[page][1]) for h in self.s.headings):
            self.rec.server_pages.setdefault(page, []).append(took)
            self.say(f"{page} computed in {took:.2f} s")
        else:
            self.error(f"{page}: no heading {PAGES[page][1]!r} in the page's elements")

    async def visit(self, page: str, by_address: bool = False) -> None:
        path = PAGES[page][0]

        async def go() -> float:
            start = time.perf_counter()
            await self._files(page)
            await (self.s.open(path) if by_address else self.s.navigate(path))
            return time.perf_counter() - start

        await self._page(page, go())

    async def problems(self) -> None:
        for p in self.s.problems if self.s else []:
            if f"{self.name}: {p}" not in self.rec.errors:
                self.error(p)

    async def close(self) -> None:
        if self.s is not None:
            await self.problems()
            self.closing = True
            await self.s.close()

    async def _look(self, text: str) -> tuple[list[str], bool, str | None]:
        closed = self.s.ws.close_code is not None
        return self.s.alerts, self.s.shows(text), "lost session while waiting" if closed else None

    async def _set_steps(self, steps: int) -> None:
        await self.s.set_number("Steps", steps)

    async def _press(self, label: str) -> None:
        await self.s.click(label)

    async def _after(self, page: str) -> bool:
        return True

    async def upload(self, path: Path) -> None:
        if self.current != "Refine":
            await self.visit("Refine")
        label = next(k for k, (kind, _) in self.s.widgets.items() if kind == "file_uploader")
        start = time.perf_counter()
        try:
            await self.s.upload(label, path.name, path.read_bytes())
        except ProtocolError as e:
            self.error(f"upload: {e}")
            return
        await self.problems()
        if self.s.shows(path.name, besides="file_uploader"):
            self.rec.waits.setdefault("upload", []).append(time.perf_counter() - start)
        else:
            self.error(f"upload: the page does not name {path.name} after the upload")


def make_log(folder: Path, seed: int, n: int = 2000) -> Path:
    """A small gradient-norm log (plain CSV), different for every seed."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    norms = (1 + steps / n) * np.exp(0.3 * rng.standard_normal(n))
    path = folder / f"student_{seed}.csv"
    rows = "".join(f"{s},{g:.6g}\n" for s, g in zip(steps, norms, strict=True))
    path.write_text("step,grad_norm\n" + rows)
    return path


async def one_student(
    i: int, role: str, k: int, browser, url: str, rec: Record, folder: Path, timeout: float
) -> None:
    """Student ``i`` (the ``k``-th with this role): a page by address, the tour, the role; in
    ``browser`` (Chromium here), or with ``browser=None`` over the protocol alone."""
    names = list(PAGES)
    first = names[i % len(names)]
    name = f"student {i + 1} ({role}{', browser' if browser else ''})"
    s = (
        Student(name, browser, url, rec, timeout)
        if browser
        else ProtoStudent(name, url, rec, timeout)
    )
    try:
        await s.open(first)
        await s.tour(first)
        if role == "train default":
            await s.train(None)
        elif role == "train changed":
            await s.train(1000 - 10 * (k + 1))
        elif role == "see it work":
            await s.demo()
        elif role == "upload":
            await s.upload(make_log(folder, seed=i + 1))
        else:
            await s.tour(s.current)
            await s.visit(first)
    except Exception as e:  # noqa: BLE001 - one student's failure is a result, not the end
        s.error(f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
    finally:
        await s.close()


def plan(n: int, mix: str) -> list[list[str]]:
    """Which roles run together: rounds of students started at once."""
    if mix == "default":
        return [["train default"] * n]
    if n == 1:  # one student does each part in turn
        return [[r] for r in ROLES]
    return [[ROLES[i % len(ROLES)] for i in range(n)]]


def in_browser(i: int, n: int, browsers: int) -> bool:
    """Student ``i`` of ``n`` is one of the ``browsers`` in Chromium: spread over the class
    and over the roles and first pages (0, 11, 22 of 30), the others over the protocol."""
    if browsers >= n:
        return True
    step, chosen = n // max(1, browsers), []
    for j in range(browsers):
        k = (j * step + j) % n
        while k in chosen:
            k = (k + 1) % n
        chosen.append(k)
    return i in chosen


async def record_assets(browser, timeout: float) -> dict[str, list[str]]:
    """For each page, the files a fresh browser downloads to show it (HTML, scripts, styles,
    fonts, the chart library's bundle), each page opened by its address in a new browser
    context, on a throwaway server so that the class's own server starts cold."""
    out: dict[str, list[str]] = {}
    with serve() as (url, _):
        for name in PAGES:
            ctx = await browser.new_context()
            page = await ctx.new_page()
            seen: list[str] = []

            def note(request, seen=seen) -> None:
                path = request.url[len(url) :] if request.url.startswith(url) else None
                if (
                    request.method == "GET"
                    and path is not None
                    and "/_stcore/stream" not in path  # the websocket: Session.connect
                    and "/media/" not in path  # a session's own files (downloads), gone with it
                    and path not in seen
                ):
                    seen.append(path)

            page.on("request", note)
            s = Student("assets", browser, url, Record(), timeout)
            s.ctx, s.page = ctx, page
            page.set_default_timeout(timeout * 1000)
            await s.visit(name, by_address=True)
            await ctx.close()
            out[name] = seen
    return out


async def teacher(url: str, timeout: float) -> float:
    """The teacher opens every page once before the class (over the protocol): the seconds
    it took, not counted in the class's page times."""
    s = Session(url, timeout)
    await s.connect()
    start = time.perf_counter()
    try:
        await s.open(PAGES["Refine"][0])
        for page in list(PAGES)[1:]:
            await s.navigate(PAGES[page][0])
        if s.problems:
            raise RuntimeError(f"the teacher's tour: {s.problems}")
        return time.perf_counter() - start
    finally:
        await s.close()


async def classroom(
    n: int, mix: str, timeout: float, folder: Path, browsers: int, warm: bool = False
) -> tuple[Record, dict]:
    from playwright.async_api import async_playwright

    rec = Record()
    with serve() as (url, server):
        sampler = Sampler(server)
        sampler.start()
        idle = sampler.rss()
        warmed = await teacher(url, timeout) if warm else None
        start = time.perf_counter()
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                ProtoStudent.assets = await record_assets(browser, timeout)
                # every protocol student fetches the app's files as a browser does, several
                # at a time: more threads than asyncio's default 6 for the whole class
                asyncio.get_running_loop().set_default_executor(
                    concurrent.futures.ThreadPoolExecutor(max(32, 8 * n))
                )
                for roles in plan(n, mix):
                    seen: dict[str, int] = {}
                    jobs = []
                    for i, role in enumerate(roles):
                        k = seen[role] = seen.get(role, -1) + 1
                        b = browser if in_browser(i, len(roles), browsers) else None
                        jobs.append(one_student(i, role, k, b, url, rec, folder, timeout))
                    await asyncio.gather(*jobs)
            finally:
                await browser.close()
        sampler.halt.set()
        sampler.join()
        info = {"idle": idle, "peak": sampler.peak, "wall": time.perf_counter() - start}
        info["browsers"] = sum(in_browser(i, n, browsers) for i in range(n))
        info["warmed"] = warmed
        info["assets"] = {p: len(v) for p, v in ProtoStudent.assets.items()}
        info["cpu"] = sampler.cpu_seconds()
    info["log"] = SERVER_LOGS[-1] if SERVER_LOGS else ""
    if os.environ.get("BENCH_SERVER_LOG"):  # every class's whole log, for a closer look
        with open(os.environ["BENCH_SERVER_LOG"], "a") as out:
            out.write(f"===== N={n} =====\n{info['log']}\n")
    return rec, info


async def cold(timeout: float) -> dict[str, tuple[float, float, int]]:
    """Each page as the first page of a fresh server, then again in a second new session;
    the server's own RSS after them."""
    from playwright.async_api import async_playwright

    out = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for page in PAGES:
                times = []
                with serve() as (url, server):
                    for _ in range(2):
                        rec = Record()
                        s = Student("cold", browser, url, rec, timeout)
                        await s.open(page)
                        await s.close()
                        if rec.errors:
                            raise RuntimeError(rec.errors)
                        times.append(rec.pages[page][0])
                    times.append(server.memory_info().rss)  # the server alone, no workers
                out[page] = tuple(times)
        finally:
            await browser.close()
    return out


# ----------------------------------------------------------------------------- the report
def server_errors(log: str, limit: int = 8) -> list[str]:
    """The distinct exceptions in the server's output: each traceback's last line with the
    last lrcore or app frame above it."""
    out: list[str] = []
    frame = ""
    for line in log.splitlines():
        if line.lstrip().startswith("File ") and ("/app/" in line or "/lrcore/" in line):
            frame = line.strip()
        elif re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line):
            item = f"{line.strip()[:200]} ({frame[:160]})"
            if item not in out:
                out.append(item)
    return out[:limit]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def fmt_wait(values: list[float] | None) -> str:
    if not values:
        return "-"
    return f"{pct(values, 50):.1f} / {max(values):.1f}"


def estimate_report(runs: list[list[tuple[float, float, float]]]) -> str:
    """Each queued run's estimates against the wait that was left when each was shown: the
    first, and the first shown 3 s or more later (a page redraws its estimate as it waits);
    then, over every estimate shown with 2 s or more left, how many were within half and
    twice that wait.

    >>> runs = [[(0.0, 2.0, 14.2), (1.0, 5.0, 13.2), (3.5, 9.0, 10.7)], [(0, 4, 3)]]
    >>> estimate_report(runs).split(": ", 1)[1]
    'first ~4/3; first ~2/14, after 3 s ~9/11; within 0.5-2x of the wait left: 2 of 4 shown'
    """
    out = []
    for run in sorted(runs, key=lambda r: r[0][2]):
        text = f"first ~{run[0][1]:.0f}/{run[0][2]:.0f}"
        later = next(((e, left) for age, e, left in run if age >= 3), None)
        if later is not None:
            text += f", after 3 s ~{later[0]:.0f}/{later[1]:.0f}"
        out.append(text)
    shown = [(e, left) for run in runs for _age, e, left in run if left >= 2]
    near = sum(left / 2 <= e <= 2 * left for e, left in shown)
    return (
        "estimate shown / seconds then left until started (polled every 0.5 s): "
        + "; ".join(out)
        + f"; within 0.5-2x of the wait left: {near} of {len(shown)} shown"
    )


def report(results: dict[int, tuple[Record, dict]]) -> None:
    cols = ["train default", "train changed", "see it work", "upload"]
    print(
        "| students (in Chromium) | pages drawn in Chromium: p50 / p95 s (visits) | pages "
        "computed by the server, without a browser: p50 / p95 s (visits) | "
        + " | ".join(f"{c}: wait p50 / max s" for c in cols)
        + " | server RSS idle / peak MB | errors |"
    )
    print("|" + "---|" * (3 + len(cols) + 2))

    def cell(values: list[float]) -> str:
        if not values:
            return "-"
        return f"{pct(values, 50):.2f} / {pct(values, 95):.2f} ({len(values)})"

    for n, (rec, info) in results.items():
        drawn = [t for v in rec.pages.values() for t in v]
        served = [t for v in rec.server_pages.values() for t in v]
        waits = " | ".join(fmt_wait(rec.waits.get(c)) for c in cols)
        print(
            f"| {n} ({info['browsers']}) | {cell(drawn)} | {cell(served)} | {waits} | "
            f"{info['idle'] / MiB:,.0f} / {info['peak'] / MiB:,.0f} | {len(rec.errors)} |"
        )
    for what, attr in (("drawn in Chromium", "pages"), ("computed by the server", "server_pages")):
        if not any(getattr(rec, attr) for rec, _ in results.values()):
            continue
        print(f"\nPer page, {what}: p50 / p95 s (visits):")
        print("| students | " + " | ".join(PAGES) + " |")
        print("|---|" + "---|" * len(PAGES))
        for n, (rec, _) in results.items():
            print(
                f"| {n} | " + " | ".join(cell(getattr(rec, attr).get(p, [])) for p in PAGES) + " |"
            )
    for n, (rec, info) in results.items():
        cpu = info["cpu"]
        print(
            f"\nN={n}: students without a browser fetched, at their first visit of a page, the "
            f"files a fresh browser fetched for it (not fetched again): {info['assets']}"
        )
        if info.get("warmed") is not None:
            print(f"\nN={n}: the teacher's tour of the 5 pages first, {info['warmed']:.1f} s")
        print(
            f"\nN={n}: wall {info['wall']:.0f} s; CPU s: server {cpu['server']:.0f}, workers "
            f"{cpu['workers']:.0f}, browsers {cpu['browsers']:.0f}, this benchmark (protocol "
            f"students, Playwright) {cpu['benchmark']:.0f} (of {os.cpu_count()} x "
            f"{info['wall']:.0f} = {os.cpu_count() * info['wall']:.0f} core-s)"
        )
        for line in server_errors(info.get("log", "")):
            print(f"  server: {line}")
        for e in rec.errors[:20]:
            print(f"  error: {e}")
        if len(rec.errors) > 20:
            print(f"  ... {len(rec.errors) - 20} more errors")
        for q in rec.queue[:8]:
            print(f"  queue text seen: {q}")
        if rec.estimates:
            print(f"  queued runs: {len(rec.estimates)}; {estimate_report(rec.estimates)}")
        if os.environ.get("BENCH_ESTIMATES"):  # every estimate shown: (age, shown, then left)
            with open(os.environ["BENCH_ESTIMATES"], "a") as out:
                out.write(f"{n}: {rec.estimates!r}\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", default="1,10,30", help="comma-separated class sizes")
    ap.add_argument("--mix", choices=("mixed", "default"), default="mixed")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for any one wait")
    ap.add_argument(
        "--browsers",
        type=int,
        default=3,
        help="students of each class in headless Chromium here (the others speak the app's "
        "protocol without drawing: their browsers would be their own laptops); default 3",
    )
    ap.add_argument(
        "--warm",
        action="store_true",
        help="the teacher opens every page once before each class starts (not counted)",
    )
    ap.add_argument("--cold", action="store_true", help="each page first on a cold server")
    ap.add_argument(
        "--script",
        choices=("serve.py", "main.py"),
        default="serve.py",
        help="the app's file to run: serve.py (lrcore app, the Dockerfile: frontend files "
        "compressed) or main.py (streamlit run app/main.py)",
    )
    ap.add_argument(
        "--server-cores",
        default="",
        help="comma-separated CPU numbers for the server and its workers (LRCORE_WORKERS: "
        "their count); this benchmark, its students and Chromium run on the others. Default: "
        "all share every core",
    )
    ap.add_argument("--verbose", action="store_true", help="print every step on stderr")
    args = ap.parse_args(argv)
    global VERBOSE, SCRIPT, SERVER_CORES
    VERBOSE, SCRIPT = args.verbose, args.script
    if args.server_cores:
        every = os.sched_getaffinity(0)
        try:
            SERVER_CORES = {int(c) for c in args.server_cores.split(",")}
        except ValueError:
            SERVER_CORES = set()
        if not SERVER_CORES or not every > SERVER_CORES:
            ap.error(
                f"--server-cores must be some, not all, of the cores {sorted(every)}, "
                f"got {args.server_cores!r}"
            )
        os.sched_setaffinity(0, every - SERVER_CORES)  # Chromium, started later, inherits it
        print(
            f"server and workers on cores {sorted(SERVER_CORES)}, this benchmark and its "
            f"students on {sorted(every - SERVER_CORES)}"
        )
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install --no-install-recommends chromium")
    print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"server: streamlit run app/{SCRIPT}")
    if args.cold:
        times = asyncio.run(cold(args.timeout))
        print(
            "| page | first page of a cold server, s | a second new session, s | "
            "server RSS then (no children), MB |"
        )
        print("|---|---|---|---|")
        for page, (first, second, rss) in times.items():
            print(f"| {page} | {first:.2f} | {second:.2f} | {rss / MiB:,.0f} |")
        return
    if args.browsers < 0:
        raise ValueError(f"bench_classroom: --browsers must be >= 0, got {args.browsers}")
    try:
        sizes = [int(s) for s in args.students.split(",")]
    except ValueError:
        sizes = [0]
    if any(n < 1 for n in sizes):
        raise ValueError(
            f"bench_classroom: --students must be positive integers, got {args.students!r}"
        )
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            results[n] = asyncio.run(
                classroom(n, args.mix, args.timeout, Path(d), args.browsers, args.warm)
            )
            print(f"N={n} done at load average {os.getloadavg()[0]:.1f}", flush=True)
    print(
        f"\nmix: {args.mix}"
        + (", the teacher opened every page first (--warm)" if args.warm else "")
    )
    report(results)


if __name__ == "__main__":
    main()
