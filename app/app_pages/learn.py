"""Learn: why linear decay, where warm-up comes from, what the bound says."""

import charts
import numpy as np
import streamlit as st
import ui

from lrcore import compare_bounds
from lrcore.synthetic import SHAPES, synthetic_norms

st.title("Why linear decay, and where warm-up comes from")

st.markdown(r"""
For SGD on a convex problem, the paper bounds the loss of the **last iterate** (what you
actually deploy) for *any* schedule $\eta_t$:

$$
f(x_T) - f_* \le \frac{D^2}{2S_0} + \frac{Q_0}{2S_0}
  + \frac12\sum_{k=0}^{T-2}\Big(\frac1{S_{k+1}} - \frac1{S_k}\Big) Q_k,
\qquad S_k = \sum_{t\ge k}\eta_t,\; Q_k = \sum_{t\ge k}\eta_t^2 G_t^2 .
$$

* If all you know is a bound $G$ on the gradient norms, the best schedule is **linear decay**,
  $\eta_t \propto 1 - t/T$: it gets $DG/\sqrt{T}$ with no log factor. A constant step size
  pays an extra $\sqrt{\log T}$ — the last iterate needs the step to shrink.
* If you *observed* the norms $G_t$ in an earlier run, the bound can be minimised for them.
  **Refinement** does that in closed form: $w_t = G_t^{-2}$ (SGD) and
  $\eta_t \propto w_t \sum_{p>t} w_p$.
* Large early norms give small early weights: the schedule **warms up by itself**.
  Norms that grow late pull the tail sum down: it **anneals fast**.
""")

st.subheader("Try a gradient-norm shape")
c1, c2, c3 = st.columns(3)
shape = c1.selectbox("Shape of the norms", list(SHAPES), index=1, key="learn_shape")
noise = c2.slider("Noise", 0.0, 1.0, 0.2, 0.05, key="learn_noise")
T = int(c3.select_slider("Steps T", [200, 500, 1000, 2000, 5000], value=1000, key="learn_T"))

g = synthetic_norms(shape, T, seed=0, noise=noise)
steps = np.arange(T)
smooth, refined = ui.cached_refine(g, 0.1, "sgd")
left, right = st.columns(2)
left.plotly_chart(charts.norms_figure([(shape, steps, g, smooth)], "step"), key="learn_norms")
right.plotly_chart(
    charts.schedules_figure(
        [
            charts.Curve("refined", steps, refined, width=3),
            charts.Curve("linear decay", steps, 1 - steps / T, dash="dash", color="#6b7280"),
            charts.Curve(
                "cosine", steps, 0.5 * (1 + np.cos(np.pi * steps / T)), dash="dot", color="#a855f7"
            ),
        ],
        "step",
        title="Schedules (peak 1)",
    ),
    key="learn_sched",
)

shapes = {
    "constant": np.ones(T),
    "cosine": 0.5 * (1 + np.cos(np.pi * steps / T)),
    "linear decay": 1 - steps / T,
    "refined": refined,
    "numerical optimum": ui.cached_optimal(g),
}
table = compare_bounds(shapes, g, reference="linear decay")[
    ["schedule", "bound", "vs_linear decay"]
]
table = table.assign(bound=table.bound * np.sqrt(T)).rename(
    columns={"bound": "bound × √T", "vs_linear decay": "vs linear"}
)
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "bound × √T": st.column_config.NumberColumn(format="%.3f"),
        "vs linear": st.column_config.NumberColumn(format="%.3f×"),
    },
)
st.caption(
    "Each shape at its best peak scale, D = 1. With flat norms, linear decay is within 1% of "
    "the numerical optimum and constant is about 30% worse; with shaped norms, refinement "
    "closes most of the gap to the optimum."
)
