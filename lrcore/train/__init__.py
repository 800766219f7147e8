"""Training runs that check a schedule (torch lives here and only here).

Names are imported on first use, so ``import lrcore.train.cli`` (what the ``lrcore``
command does at start-up) does not load torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "RunConfig": "lrcore.train.config",
    "TASKS": "lrcore.train.config",
    "RunResult": "lrcore.train.result",
    "Progress": "lrcore.train.loop",
    "train": "lrcore.train.loop",
    "run_many": "lrcore.train.loop",
    "compare": "lrcore.train.experiments",
    "best_rows": "lrcore.train.experiments",
    "default_grid": "lrcore.train.experiments",
    "own_norm_bounds": "lrcore.train.experiments",
    "RefineRound": "lrcore.train.experiments",
    "noise_profile": "lrcore.train.noise",
    "NOISES": "lrcore.train.config",
    "f_star": "lrcore.train.objective",
    "convex_objective": "lrcore.train.objective",
    "refine_and_retrain": "lrcore.train.experiments",
    "RefineRetrain": "lrcore.train.experiments",
    "GradNormRecorder": "lrcore.train.recorder",
    "load_dataset": "lrcore.train.data",
    "AdamC": "lrcore.train.adamc",
    "adamc_param_groups": "lrcore.train.adamc",
    "normalized_parameters": "lrcore.train.adamc",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lrcore.train' has no attribute {name!r}")
