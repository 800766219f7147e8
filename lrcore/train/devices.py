"""Which device a run will use, known without importing torch where the answer is certain.

Importing torch takes seconds and a few hundred MB; the app's pages only need the device's
name (for a caption and the cost model's CPU note), and its runs execute in worker processes.
A torch built without CUDA or ROCm (the CPU wheel a class host installs) can only use the
CPU, which its ``torch/version.py`` says (``cuda = None``, ``hip = None``); only a GPU build
asks torch itself (:func:`lrcore.train.loop.resolve_device`).
"""

from __future__ import annotations

import functools
import importlib.util
import runpy
from pathlib import Path


@functools.cache
def gpu_build() -> bool:
    """Whether the installed torch was built with CUDA or ROCm (True when it cannot tell).

    >>> isinstance(gpu_build(), bool)
    True
    """
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return True  # no torch: let torch's own import say so
    try:
        built = runpy.run_path(str(Path(spec.submodule_search_locations[0]) / "version.py"))
    except Exception:  # noqa: BLE001 - an unusual install: ask torch
        return True
    return built.get("cuda") is not None or built.get("hip") is not None


def device_type(name: str = "auto", convex: bool = False) -> str:
    """``resolve_device(name, convex).type`` ("cpu" or "cuda"), importing torch only when a
    GPU build could answer "cuda".

    >>> device_type("cpu")
    'cpu'
    >>> device_type("auto", convex=True)  # convex tasks run in float64 on the CPU
    'cpu'
    """
    if name == "cpu" or (name == "auto" and (convex or not gpu_build())):
        return "cpu"
    from lrcore.train.loop import resolve_device

    return resolve_device(name, convex).type
