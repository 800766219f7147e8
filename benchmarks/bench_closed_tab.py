"""A closed tab burns no CPU: ``python benchmarks/bench_closed_tab.py [--steps N] [--workers 1]``.

Starts the app (``LRCORE_WORKERS=1``: one worker process), opens 'Train and check' in two
headless Chromium contexts (two students), starts a long Logistic run in the first (it runs)
and a different one in the second (it waits: "queued: position 1 of 1"), then closes both
tabs. Samples the CPU use of the server's worker processes (psutil, every 0.5 s) and prints:
the CPU while the run goes on, how long after the close it fell below 5 % of a core, and the
CPU seconds the workers used over the ``--watch`` seconds after that (a queued job that
started would use a whole core: about ``--watch`` seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import make_screenshots as shots  # noqa: E402


def workers_of(server: psutil.Process) -> list[psutil.Process]:
    """The pool's spawned processes (the Manager's server process included: it idles)."""
    return [
        p
        for p in server.children(recursive=True)
        if "multiprocessing" in " ".join(p.cmdline()) or "spawn_main" in " ".join(p.cmdline())
    ]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def start_run(browser, url: str, steps: int, wait_text: str):
    ctx = browser.new_context(viewport=shots.DESKTOP)
    page = ctx.new_page()
    page.set_default_timeout(shots.PAGE_TIMEOUT * 1000)
    page.goto(f"{url}/train")
    shots.settle(page, pause=0.2)
    box = page.get_by_label("Steps")
    box.fill(str(steps))
    box.press("Enter")
    shots.settle(page, pause=0.2)
    page.get_by_role("button", name="Start").click()
    page.wait_for_selector(f"text={wait_text}", timeout=shots.PAGE_TIMEOUT * 1000)
    return ctx, page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=4000, help="steps of the first (running) run")
    ap.add_argument("--watch", type=float, default=30.0, help="seconds watched after the drop")
    args = ap.parse_args()
    os.environ["LRCORE_WORKERS"] = "1"
    with shots.serve() as url, shots.chromium() as browser:
        port = int(url.rsplit(":", 1)[1])
        server = next(
            p
            for p in psutil.Process().children(recursive=True)
            if any(c.laddr.port == port for c in p.net_connections("inet") if c.laddr)
        )
        a, page_a = start_run(browser, url, args.steps, "round 1")
        print(f"tab A: running ({page_a.get_by_text('round 1').first.inner_text()[:70]}…)")
        b, page_b = start_run(browser, url, args.steps + 1, "queued: position")
        print(f"tab B: {page_b.get_by_text('queued: position').first.inner_text()}")
        procs = workers_of(server)
        c0, t0 = cpu_seconds(procs), time.monotonic()
        time.sleep(3)
        running = (cpu_seconds(procs) - c0) / (time.monotonic() - t0)
        print(f"workers' CPU while tab A's run goes on: {running:.0%} of a core")
        print(f"tab B 3 s later: {page_b.get_by_text('queued: position').first.inner_text()}")
        a.close()
        b.close()
        closed = time.monotonic()
        last_c, last_t, quiet_since = cpu_seconds(procs), closed, None
        while time.monotonic() - closed < 120:
            time.sleep(0.5)
            c, t = cpu_seconds(procs), time.monotonic()
            use, last_c, last_t = (c - last_c) / (t - last_t), c, t
            if use < 0.05:
                quiet_since = quiet_since or t
                if t - quiet_since >= 2:
                    break
            else:
                quiet_since = None
        dropped = (quiet_since or time.monotonic()) - closed
        print(f"tabs closed: workers' CPU below 5 % of a core {dropped:.1f} s later")
        c0, t0 = cpu_seconds(workers_of(server)), time.monotonic()
        time.sleep(args.watch)
        used = cpu_seconds(workers_of(server)) - c0
        print(
            f"then {used:.2f} CPU s in {time.monotonic() - t0:.0f} s "
            f"(the queued run never started: {'yes' if used < 0.1 * args.watch else 'NO'})"
        )


if __name__ == "__main__":
    main()
