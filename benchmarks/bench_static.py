"""A class's first page, the files only: N students download together the files a fresh
browser downloads to show every page (scripts, styles, fonts, the chart library), from
``streamlit run app/main.py`` (baseline: Streamlit sends them itself, uncompressed) and from
``streamlit run app/serve.py`` (what ``lrcore app`` and the Dockerfile serve: compressed once,
sent from memory, app/static_files.py).

The files are those a headless Chromium fetched on a throwaway server, every page opened and
its charts drawn (``bench_classroom.record_assets``). Each student fetches them over 6
kept-alive connections, gzip accepted, as a browser does (``streamlit_client.Session``); one
student fetches them first, so the server's disk cache and the preloaded files are warm.
Printed: bytes per student, the class's wall time, the server's CPU seconds, and the ratios
serve.py / main.py.

    python benchmarks/bench_static.py            # 30 students
    python benchmarks/bench_static.py --students 10
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_classroom as bc  # noqa: E402
from streamlit_client import Session  # noqa: E402


async def recorded() -> list[str]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=bc.CHROMIUM, args=["--no-sandbox"])
        try:
            assets = await bc.record_assets(browser, 180)
        finally:
            await browser.close()
    return list(dict.fromkeys(path for paths in assets.values() for path in paths))


async def one_class(script: str, paths: list[str], n: int) -> dict:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(6 * n + 6))

    async def student(url: str) -> tuple[float, int]:
        start = time.perf_counter()
        got = await Session(url, 180).load_assets(paths)
        return time.perf_counter() - start, got

    with bc.serve(script=script) as (url, server):
        await student(url)  # warm: the OS's file cache, the preloaded files
        cpu0 = sum(server.cpu_times()[:2])
        start = time.perf_counter()
        done = await asyncio.gather(*(student(url) for _ in range(n)))
        wall = time.perf_counter() - start
        cpu = sum(server.cpu_times()[:2]) - cpu0
    return {"wall": wall, "cpu": cpu, "bytes": done[0][1], "slowest": max(t for t, _ in done)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=30)
    args = ap.parse_args(argv)
    if args.students < 1:
        raise ValueError(f"bench_static: --students must be >= 1, got {args.students}")
    print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    paths = asyncio.run(recorded())
    print(f"files a fresh browser fetched for the 5 pages: {len(paths)}")
    rows = {s: asyncio.run(one_class(s, paths, args.students)) for s in ("main.py", "serve.py")}
    print(f"\n{args.students} students at once:")
    print("| server | MB per student | class wall s | slowest student s | server CPU s |")
    print("|---|---|---|---|---|")
    for script, r in rows.items():
        print(
            f"| streamlit run app/{script} | {r['bytes'] / 1e6:.1f} | {r['wall']:.2f} | "
            f"{r['slowest']:.2f} | {r['cpu']:.2f} |"
        )
    base, new = rows["main.py"], rows["serve.py"]
    print(
        f"\nserve.py / main.py: bytes {new['bytes'] / base['bytes']:.2f}x, wall "
        f"{new['wall'] / base['wall']:.2f}x, server CPU {new['cpu'] / max(base['cpu'], 1e-9):.2f}x"
    )


if __name__ == "__main__":
    main()
