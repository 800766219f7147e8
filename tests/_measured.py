"""A command's exit status, CPU time and peak memory, measured through a small launcher.

A child's ``ru_maxrss`` keeps the high-water mark of the process it was forked from (Linux
keeps the old memory's at exec): started from a pytest process that has grown to gigabytes,
every command would read as gigabytes. So a small launcher starts the command, inheriting the
launcher's stdin, stdout and stderr, and writes ``status cpu_seconds peak_kib`` to a file.
"""

from __future__ import annotations

import sys
from pathlib import Path

LAUNCHER = """
import os, subprocess, sys, threading
report, hang = sys.argv[1], float(sys.argv[2])
proc = subprocess.Popen(sys.argv[3:])
timer = threading.Timer(hang, proc.kill) if hang > 0 else None
if timer is not None:
    timer.start()
_, status, usage = os.wait4(proc.pid, 0)
if timer is not None:
    timer.cancel()
with open(report, "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}")
"""


def launcher(report: Path, argv: list[str], hang_s: float = 0.0) -> list[str]:
    """The command line that runs ``argv`` and reports to ``report`` (killed after
    ``hang_s`` seconds when > 0)."""
    return [sys.executable, "-c", LAUNCHER, str(report), str(hang_s), *argv]


def read_report(report: Path) -> tuple[int, float, float]:
    """(exit status, CPU seconds, peak MiB) the launcher wrote."""
    code, cpu, kib = report.read_text().split()
    peak = int(kib) / (2**20 if sys.platform == "darwin" else 1024)
    return int(code), float(cpu), peak
