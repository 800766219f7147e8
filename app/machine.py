"""This machine's speed for the cost model (:func:`lrcore.train.cost.cpu_speed`: the CPU's,
without the load of the moment), measured once per server in a child process.

The measurement runs a small torch kernel, and importing torch takes seconds of the server's
one interpreter (every session waits on its lock) and ~300 MB that the server never needs
otherwise: its runs go to the worker pool. ``start()`` (main.py) begins the measurement in
the background, ``DELAY`` seconds later so that the server's first page loads first; ``speed()`` waits for it (None when the child failed: the
cost model then measures in this process, as before).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import streamlit as st

import lrcore

# also how long a training worker takes to start here (a new interpreter importing what
# lrcore.train.job.warm imports): the queue's first estimates count it (Pool's startup_guess).
# The speed is the CPU's alone (cpu_speed): kept for the server's lifetime, it must not carry
# the load of the moment it was measured (often a class opening Train together)
CODE = (
    "import sys, time; from lrcore._procs import die_with_parent; die_with_parent(); "
    "from lrcore.train.job import warm; warm(); "
    "started = time.time() - float(sys.argv[1]); "
    "from lrcore.train.cost import cpu_speed; print(started, cpu_speed())"
)
TIMEOUT = 300  # seconds for the child (a cold torch import on a loaded 2-core host: ~30 s)
DELAY = 10  # seconds before it starts, unless asked for: the first page loads first


def _measure(box: dict) -> None:
    box["wanted"].wait(DELAY)
    root = str(Path(lrcore.__file__).resolve().parents[1])  # this lrcore, in the child too
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    try:
        out = subprocess.run(
            [sys.executable, "-c", CODE, repr(time.time())],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
            env=env,
        )
        startup, speed = out.stdout.split()[-2:]
        box["startup"], box["speed"] = float(startup), float(speed)
    except (OSError, subprocess.SubprocessError, ValueError):
        box["speed"] = None
    finally:
        box["done"].set()


@st.cache_resource(show_spinner=False)
def _measurement() -> dict:
    box = {"done": threading.Event(), "wanted": threading.Event(), "speed": None, "startup": None}
    threading.Thread(target=_measure, args=(box,), daemon=True, name="machine-speed").start()
    return box


def start() -> None:
    """Begin the measurement (once per server; returns at once)."""
    _measurement()


def ready() -> bool:
    """The measurement has ended (:func:`speed` returns at once); asks for it to start now."""
    box = _measurement()
    box["wanted"].set()
    return box["done"].is_set()


def speed() -> float | None:
    """The measured speed (waits for the child), or None when it could not be measured."""
    box = _measurement()
    box["wanted"].set()
    box["done"].wait(DELAY + TIMEOUT + 5)
    return box["speed"]


def startup() -> float | None:
    """Seconds a training worker took to start on this server (measured with the speed), or
    None before that ended or when it failed; never waits and never asks for it."""
    box = _measurement()
    return box["startup"] if box["done"].is_set() else None
