"""Why the language model's norms rise late, measured (protocol v4.3-v4.4): the late rise of
linear's norms, where it comes against the loss drop, the refined shape, refined (and its
rounds) minus linear, and which mechanism's predictions held."""

from __future__ import annotations

import numpy as np

from lrcore.study.problems import LM_MECHANISM
from lrcore.study.report._fmt import _p
from lrcore.study.result import StudyResult
from lrcore.study.stats import CLAIM_OF

# the problems the predictions of v4.4 compare (names as in lrcore.study.problems)
MAIN, WD0, WD001, ADAMC, CHAIN_B = (
    "lm converged (adamw 0.1)",
    "lm converged (adamw 0)",
    "lm converged (adamw 0.01)",
    "lm converged (adamc 0.1)",
    "lm chain B (adamw 0.1)",
)


def mechanism_rows(result: StudyResult) -> dict[str, dict]:
    """Per lm problem of the v4 regimes: its late rise and refined-minus-linear numbers."""
    comp = result.comparisons
    out = {}
    for r in result.results:
        if r.problem.regime not in LM_MECHANISM or r.late_rise is None:
            continue
        c = comp[comp.problem == r.problem.name].set_index("claim")
        diffs = {}
        for s in ("refined", "refined_2", "refined_3"):
            claim = CLAIM_OF[s]
            if claim in c.index:
                row = c.loc[claim]
                # diff_mean = score(linear) - score(refined): minus it is refined - linear
                diffs[s] = (-float(row.diff_mean), float(row.diff_sem), float(row.p_holm))
        cfg = r.problem.config
        out[r.problem.name] = {
            "result": r,
            "what": f"{cfg.optimizer} {cfg.weight_decay:g}, Dirichlet {cfg.lm_alpha:g}",
            "rise": r.late_rise,
            "diffs": diffs,
        }
    return out


def _diff(d: tuple[float, float, float] | None) -> str:
    if d is None:
        return "-"
    return f"{d[0]:+.3g} ± {d[1]:.2g} (Holm p {_p(d[2])})"


def _at(x) -> str:
    return f"{x:.0%}" if x is not None and np.isfinite(x) else "-"


def predictions(rows: dict[str, dict]) -> dict[str, list[tuple[str, bool | None]]]:
    """v4.4's predictions per mechanism, each with whether it held (None: not measurable)."""

    def ratio(name):
        return rows[name]["rise"].ratio if name in rows else np.nan

    def loss(name):
        d = rows.get(name, {}).get("diffs", {}).get("refined")
        return d[0] if d else np.nan

    def se(name):
        d = rows.get(name, {}).get("diffs", {}).get("refined")
        return d[1] if d else np.nan

    def held(x) -> bool | None:
        return None if x is None else bool(x)

    main = rows.get(MAIN)
    together = None
    if main is not None:
        rr = main["rise"]
        if rr.rise_at is not None and rr.loss_drop_at is not None:
            together = abs(rr.rise_at - rr.loss_drop_at) <= 0.15
    have = all(n in rows for n in (WD0, WD001, MAIN, ADAMC, CHAIN_B))
    wd = [
        (
            "the late rise grows with weight decay (0 < 0.01 < 0.1): "
            f"{ratio(WD0):.3g}x, {ratio(WD001):.3g}x, {ratio(MAIN):.3g}x",
            held(have and ratio(WD0) < ratio(WD001) < ratio(MAIN)) if have else None,
        ),
        (
            f"AdamC at 0.1 rises less than half as much as AdamW at 0.1: {ratio(ADAMC):.3g}x vs "
            f"{ratio(MAIN):.3g}x",
            held(ratio(ADAMC) < 0.5 * ratio(MAIN)) if have else None,
        ),
        (
            f"refined loses less under AdamC: {loss(ADAMC):+.3g} ± {se(ADAMC):.2g} vs "
            f"{loss(MAIN):+.3g} ± {se(MAIN):.2g} nats/token (means compared, as v4.4 says)",
            held(loss(ADAMC) < loss(MAIN)) if have else None,
        ),
    ]
    tr = [
        (
            f"the rise is there without weight decay (>= 3x): {ratio(WD0):.3g}x",
            held(ratio(WD0) >= 3) if have else None,
        ),
        (
            "the norms' rise and the loss drop come together (within 0.15 of the run): "
            + (
                f"halfway up at {_at(main['rise'].rise_at)}, loss halfway down at "
                f"{_at(main['rise'].loss_drop_at)}"
                if main
                else "n/a"
            ),
            together,
        ),
        (
            f"chain B (earlier transition) rises less ({ratio(CHAIN_B):.3g}x vs "
            f"{ratio(MAIN):.3g}x) and refined loses less there ({loss(CHAIN_B):+.3g} vs "
            f"{loss(MAIN):+.3g})",
            held(ratio(CHAIN_B) < ratio(MAIN) and loss(CHAIN_B) < loss(MAIN)) if have else None,
        ),
    ]
    return {"weight decay on normalized layers": wd, "a learning transition": tr}


def support(preds: list[tuple[str, bool | None]]) -> str:
    """supported (all held), partly (some), not supported (none), or not measured."""
    seen = [h for _, h in preds if h is not None]
    if not seen:
        return "not measured"
    if all(seen) and len(seen) == len(preds):
        return "supported"
    return "partly supported" if any(seen) else "not supported"


def mechanism(result: StudyResult) -> list[str]:
    """The mechanism section: one row per v4 lm problem, then v4.4's reading."""
    rows = mechanism_rows(result)
    if not rows:
        return []
    lines = [
        "",
        "## Why the norms rise late: the mechanism, measured (protocol v4)",
        "",
        "Late rise: median l1 norm of linear's build runs (seed mean) over the last tenth / over "
        "40-60 % of the run (`lrcore.late_rise`); halfway up: where their running median first "
        "passes the geometric middle of the two levels; loss drop: the share linear's training "
        "loss falls over the same stretch, and where it is halfway down. Refined - linear: paired "
        "over the scoring seeds (nats/token; > 0: refined worse), with its Holm p in the "
        "study's one family.",
        "",
        "| problem | optimizer, decay, chain | late rise | halfway up | loss drop | halfway "
        "down | refined peaks at / above half | refined - linear | round 2 - linear | "
        "round 3 - linear |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        r, rise, d = row["result"], row["rise"], row["diffs"]
        drop = f"{rise.loss_drop:.0%}" if rise.loss_drop is not None else "-"
        drop = "0%" if drop == "-0%" else drop
        lines.append(
            f"| {name} | {row['what']} | {rise.ratio:.3g}x | {_at(rise.rise_at)} | {drop} | "
            f"{_at(rise.loss_drop_at)} | {r.peak_fraction:.2f} / {r.above_half:.2f} | "
            f"{_diff(d.get('refined'))} | {_diff(d.get('refined_2'))} | "
            f"{_diff(d.get('refined_3'))} |"
        )
    preds_all = predictions(rows)
    if all(h is None for preds in preds_all.values() for _, h in preds):
        return lines + ["", "The mechanism's predictions (v4.4) need the five v4 lm problems."]
    lines += ["", "What each mechanism predicts (fixed in protocol v4.4) and whether it held:", ""]
    for mech, preds in preds_all.items():
        lines.append(f"- **{mech}**: {support(preds)}.")
        for text, held in preds:
            mark = {True: "held", False: "did not hold", None: "not measured"}[held]
            lines.append(f"  - {text}: {mark}.")
    unseen = [
        f"{name} (refined - linear {d[0]:+.3g} ± {d[1]:.2g}, Holm p {_p(d[2])}, late rise "
        f"{row['rise'].ratio:.2g}x)"
        for name, row in rows.items()
        if (d := row["diffs"].get("refined")) and d[2] < 0.05 and d[0] > 0 and row["rise"].ratio < 2
    ]
    if unseen:
        lines += [
            "",
            "Refined was clearly worse without a late rise on " + "; ".join(unseen) + ": "
            "the late-rise measure (40-60 % vs the last tenth) does not see what cost refined "
            "there, so a warning built on it cannot either.",
        ]
    return lines
