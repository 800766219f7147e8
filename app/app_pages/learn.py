"""Learn: why linear decay, where warm-up comes from, what the bound says (and the notation)."""

import cached
import charts
import numpy as np
import pandas as pd
import streamlit as st
import words

from lrcore import REGISTRY, compare_bounds
from lrcore.synthetic import SHAPES, synthetic_norms

LINEAR = REGISTRY["linear"].label
# display names: the registry's labels (as on every page), in the legend, the table and the
# sentences below it
NAMES = {
    "constant": REGISTRY["constant"].label,
    "cosine": REGISTRY["cosine"].label,
    "linear": LINEAR,
    "refined": "refined",
    "optimum": "numerical optimum",
}
STYLE = {  # the colours of every page (charts.COLOURS)
    "refined": {"width": 3},
    "linear": {"dash": charts.BASELINE_STYLE["linear"]},
    "cosine": {"dash": charts.BASELINE_STYLE["cosine"], "width": 2},
    "constant": {"width": 2},
    "optimum": {"width": 1.5},  # its running median, its raw range shaded (charts.smoothed_band)
}
SHAPE_LABELS = {
    "flat": "flat",
    "falling": "falling early (large at the start)",
    "rising": "rising late (large at the end)",
    "spike": "a spike mid-run",
    "llm": "LLM-like (fall, plateau, late rise)",
}

st.title("Why linear decay, and where warm-up comes from")

st.markdown(r"""
For SGD on a convex problem, the paper bounds the loss of the **last iterate** (what you
actually deploy) for *any* schedule $\eta_0, \dots, \eta_{T-1}$:

$$
\begin{aligned}
f(x_T) - f_* \le{} & \frac{D^2}{2S_0} + \frac{Q_0}{2S_0} \\
 & + \frac12\sum_{k=0}^{T-2}\Big(\frac1{S_{k+1}} - \frac1{S_k}\Big) Q_k
\end{aligned}
$$

* If all you know is a bound $G$ on the gradient norms, the best schedule is **linear decay**,
  $\eta_t \propto 1 - t/T$: it gets $DG/\sqrt{T}$ with no log factor. In the worst case, and
  for large $T$, a constant step size pays an extra $\sqrt{\log T}$: the last iterate needs
  the step to shrink. (For particular norms and a given $T$ the ranking can differ: see the
  table below.)
* If you *observed* the norms $G_t$ in an earlier run, the bound can be minimised for them.
  **Refinement** does that in closed form: $w_t = G_t^{-2}$ (SGD) and
  $\eta_t \propto w_t \sum_{p>t} w_p$.
* Large early norms give small early weights: the schedule **warms up by itself**.
  Norms that grow late pull the tail sum down: it **anneals fast**.
""")
with st.expander("Notation", expanded=False):
    st.markdown(r"""
| symbol | meaning |
|---|---|
| $T$ | number of steps, $t = 0, \dots, T-1$ |
| $\eta_t$ | learning rate at step $t$ |
| $G_t$ | gradient norm at step $t$ (l2 for SGD; Adam uses l1 and $w_t = G_t^{-1}$) |
| $x_T$ | the last iterate, $f_*$ the lowest loss |
| $D$ | distance from the starting point to the optimum, $\lVert x_0 - x_*\rVert$ |
| $S_k$ | $\sum_{t \ge k} \eta_t$, the lr still to come from step $k$ on ($k$ included) |
| $Q_k$ | $\sum_{t \ge k} \eta_t^2 G_t^2$ |

$D$ is unknown in practice, so the app compares schedules by **ratios** of their bounds,
each at its own best peak lr: a ratio does not depend on $D$.
Refinement: Defazio, Cutkosky, Mehta, Mishchenko,
[arXiv:2310.07831](https://arxiv.org/abs/2310.07831).
""")

st.page_link(
    "app_pages/demo.py",
    label="See it work: real training runs",
    icon=":material/play_circle:",
)

st.subheader("Try a gradient-norm shape")
c1, c2, c3 = st.columns(3)
shape = c1.selectbox(
    "Shape of the gradient norms",
    list(SHAPES),
    index=1,
    key="learn_shape",
    format_func=SHAPE_LABELS.get,
)
noise = c2.slider(
    "Noise (spread of the log-normal noise)",
    0.0,
    1.0,
    0.2,
    0.05,
    key="learn_noise",
    help="Each norm is the shape times exp(noise × a standard normal draw).",
)
T = int(c3.select_slider("Steps T", [200, 500, 1000, 2000, 5000], value=1000, key="learn_T"))

g = synthetic_norms(shape, T, seed=0, noise=noise)
steps = np.arange(T)
smooth, refined = cached.cached_refine(g, 0.1, "sgd")
shapes = {
    "constant": np.ones(T),
    "cosine": 0.5 * (1 + np.cos(np.pi * steps / T)),
    "linear": 1 - steps / T,
    "refined": refined,
    "optimum": cached.cached_optimal(g),
}
bounds = compare_bounds({NAMES[k]: v for k, v in shapes.items()}, g, reference=LINEAR).set_index(
    "schedule"
)
# each schedule at the peak lr the bound picks for it, relative to linear decay's
linear_peak = bounds.best_peak_lr[LINEAR]


def _curve(k: str, shape: np.ndarray) -> charts.Curve:
    y = shape * bounds.best_peak_lr[NAMES[k]] / np.max(shape) / linear_peak
    band = None
    if k == "optimum":  # spiky: drawn as its running median, the middle 80% shaded
        y, *band = charts.smoothed_band(y)
    return charts.Curve(
        NAMES[k], steps, y, color=charts.colour_for(NAMES[k]), band=band, **STYLE[k]
    )


curves = [_curve(k, shape) for k, shape in reversed(shapes.items())]

left, right = st.columns(2)
left.plotly_chart(
    charts.norms_figure([(shape, steps, g, smooth)], "step"),
    key="learn_norms",
)
fig = charts.schedules_figure(curves, "step", title="Schedules at their best peak lr")
top = 1.3 * max(float(np.max(c.y)) for c in curves if c.name != NAMES["optimum"])
fig.update_yaxes(range=[0, top])
right.plotly_chart(fig, key="learn_sched")
raw_top = float(np.max(curves[0].band[1]))  # the top of the shaded band
right.caption(
    f"1 = the peak lr the bound picks for {LINEAR}; each curve is at its own best "
    "peak lr (D cancels in these ratios). The numerical optimum follows every dip of the "
    f"noisy norms: it is drawn as its running median over {charts.BAND_WIDTH:.0%} of the "
    "steps, with the middle 80% of its raw values shaded"
    + (f" (up to {raw_top:.1f}; cut off at {top:.1f})." if raw_top > top else ".")
)

ratio = bounds[f"vs_{LINEAR}"].sort_values()
st.dataframe(
    pd.DataFrame(
        {
            "schedule": ratio.index,
            f"bound vs {LINEAR}": [f"{r:.3f}× ({words.fmt_change(r)})" for r in ratio],
        }
    ),
    hide_index=True,
    key="learn_bounds",
)
st.markdown(words.bound_sentences(ratio.to_dict(), LINEAR, NAMES["refined"], NAMES["optimum"]))
const, cos = NAMES["constant"], NAMES["cosine"]
if ratio[const] < ratio[cos]:
    st.caption(
        f"Here **{const}** ({ratio[const]:.3f}×) beats **{cos}** ({ratio[cos]:.3f}×): the "
        "extra √log T a constant step pays is a worst-case statement for large T, not a "
        "ranking for these particular norms."
    )
