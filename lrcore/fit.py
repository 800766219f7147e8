"""Turn a refined curve into a plain config: fit a standard family to a schedule.

Families (both built from :data:`lrcore.registry.REGISTRY`, so the fit is a config
any trainer can express):

- ``warmup_poly``: linear warm-up over a fraction ``w`` of the run, then ``(1 - p) ** power``;
- ``wsd``: linear warm-up, a flat stretch, then a cool-down over a fraction ``d``.

>>> import numpy as np
>>> fit = fit_family(1 - np.arange(100) / 100)
>>> fit.family, fit.params["warmup_fraction"], round(fit.params["power"], 2), fit.r2 > 0.999
('warmup_poly', 0.0, 1.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

from lrcore._validate import as_norms
from lrcore.refine import stretch
from lrcore.registry import build_schedule
from lrcore.schedules import _COOLDOWNS, Schedule, evaluate

__all__ = ["FamilyFit", "fit_family", "FAMILIES"]

_FIT_POINTS = 1000  # long schedules are resampled to this many points for fitting


@dataclass(frozen=True)
class FamilyFit:
    """A fitted family: parameters as fractions of the run, and the quality of the fit."""

    family: str  # "warmup_poly" or "wsd"
    params: dict = field(hash=False)  # warmup_fraction and power, or decay_fraction and cooldown
    r2: float  # coefficient of determination against the peak-normalised target

    def to_schedule(self, total_steps: int, peak_lr: float = 1.0) -> Schedule:
        """The fitted family as a registry schedule of ``total_steps`` steps."""
        p = dict(self.params)
        w = round(p.pop("warmup_fraction") * total_steps)
        w = min(w, total_steps - 1)
        name = "polynomial" if self.family == "warmup_poly" else "wsd"
        return build_schedule(name, total_steps, peak_lr=peak_lr, warmup_steps=w, **p)

    def describe(self) -> str:
        p = self.params
        if self.family == "warmup_poly":
            shape = f"then (1 - p)^{p['power']:.2f}"
        elif p["decay_fraction"] >= 1.0:
            shape = f"then a {p['cooldown']} decay to the end"
        else:
            shape = (
                f"flat, then a {p['cooldown']} cool-down over the last {p['decay_fraction']:.0%}"
            )
        return f"linear warm-up over {p['warmup_fraction']:.1%} of the run, {shape} (R² = {self.r2:.3f})"


def _r2(target: np.ndarray, model: np.ndarray) -> float:
    ss_tot = float(np.sum((target - target.mean()) ** 2))
    ss_res = float(np.sum((target - model) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)


def _curve(name: str, n: int, warmup_steps: int, **params) -> np.ndarray:
    v = evaluate(build_schedule(name, n, warmup_steps=warmup_steps, **params), n)
    return v / v.max()


def _warmup_grid(target: np.ndarray) -> np.ndarray:
    n = len(target)
    peak = int(np.argmax(target))
    grid = np.unique(np.clip(np.r_[np.linspace(0, 0.5, 26) * n, peak + np.arange(-3, 4)], 0, n - 2))
    return grid.astype(int)


def _fit_poly(target: np.ndarray) -> tuple[dict, float]:
    n = len(target)
    best = ({}, -np.inf)
    for w in _warmup_grid(target):

        def loss(log_power, w=w):
            return float(
                np.sum((_curve("polynomial", n, w, power=np.exp(log_power)) - target) ** 2)
            )

        res = minimize_scalar(
            loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4}
        )
        power = float(np.exp(res.x))
        r2 = _r2(target, _curve("polynomial", n, w, power=power))
        if r2 > best[1]:
            best = ({"warmup_fraction": float(w / n), "power": power}, r2)
    return best


_DECAY_FRACTIONS = np.linspace(0.05, 1.0, 20)
_WSD_COOLDOWNS = ("linear", "cosine", "1-sqrt")


def _wsd_curves(n: int, w: int, cooldown: str, decay_fractions: np.ndarray) -> np.ndarray:
    """``_curve("wsd", n, w, decay_fraction=d, cooldown=cooldown)`` for every ``d`` at once
    (one row each): the registry's formulas, vectorised (the tests check they agree)."""
    t = np.arange(n, dtype=np.float64)
    m = n - w  # the schedule after the warm-up has m steps
    t0 = (m * (1.0 - np.asarray(decay_fractions, dtype=np.float64)))[:, None]
    x = np.clip((np.maximum(t - w, 0.0) - t0) / (m - t0), 0.0, 1.0)
    v = _COOLDOWNS[cooldown](x)  # peak 1, final 0; the warm-up ramps to its value at 0 (1)
    if w:
        v = np.where(t < w, np.clip(t / w, 0.0, 1.0), v)
    return v / v.max(axis=1, keepdims=True)


def _fit_wsd(target: np.ndarray) -> tuple[dict, float]:
    n = len(target)
    ss_tot = float(np.sum((target - target.mean()) ** 2))
    best = ({}, -np.inf)
    for w in _warmup_grid(target):
        r2 = np.full((len(_DECAY_FRACTIONS), len(_WSD_COOLDOWNS)), -np.inf)
        ok = ~((w >= n * (1 - _DECAY_FRACTIONS)) & (_DECAY_FRACTIONS < 1.0))
        for j, cooldown in enumerate(_WSD_COOLDOWNS):
            models = _wsd_curves(n, int(w), cooldown, _DECAY_FRACTIONS[ok])
            ss_res = np.sum((target - models) ** 2, axis=1)
            r2[ok, j] = _r2_from(ss_tot, ss_res)
        i, j = np.unravel_index(int(np.argmax(r2)), r2.shape)  # first best, in loop order
        if r2[i, j] > best[1]:
            best = (
                {
                    "warmup_fraction": float(w / n),
                    "decay_fraction": float(_DECAY_FRACTIONS[i]),
                    "cooldown": _WSD_COOLDOWNS[j],
                },
                float(r2[i, j]),
            )
    return best


def _r2_from(ss_tot: float, ss_res: np.ndarray) -> np.ndarray:
    """:func:`_r2` from its sums (``ss_res`` one per model)."""
    if ss_tot > 0:
        return 1.0 - ss_res / ss_tot
    return np.where(ss_res == 0, 1.0, 0.0)


FAMILIES = {"warmup_poly": _fit_poly, "wsd": _fit_wsd}


def fit_family(schedule, family: str = "warmup_poly") -> FamilyFit:
    """Least-squares fit of ``family`` (or ``"best"`` of all) to a peak-normalised schedule."""
    v = as_norms("fit_family", schedule, name="schedule", positive=False)
    if v.max() <= 0:
        raise ValueError("fit_family: schedule must have a positive value")
    if family != "best" and family not in FAMILIES:
        raise ValueError(
            f"fit_family: family must be one of {sorted(FAMILIES) + ['best']}, got {family!r}"
        )
    target = v / v.max()
    if len(target) > _FIT_POINTS:
        target = stretch(target, _FIT_POINTS)
    names = list(FAMILIES) if family == "best" else [family]
    fits = [FamilyFit(name, *FAMILIES[name](target)) for name in names]
    return max(fits, key=lambda f: f.r2)
