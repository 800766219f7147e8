"""Server-side time of the 'Refine a log' page from the upload of a 1-million-point log to
the rendered page (Streamlit AppTest, no browser), and the points each chart trace sends.

Baseline in the same run: the same page on the 3,000-point sample that it shows on first
load. Targets: under 2 s for the 1M upload, at most 5,000 points per trace.

    python benchmarks/bench_app.py
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from lrcore.logs._write import WRITERS
from lrcore.synthetic import synthetic_norms

APP = str(Path(__file__).parents[1] / "app" / "main.py")


def points(at) -> dict[str, int]:
    out = {}
    for el in at.get("plotly_chart"):
        for t in json.loads(el.proto.spec)["data"]:
            y = t.get("y")
            n = (
                len(base64.b64decode(y["bdata"])) // np.dtype(y["dtype"]).itemsize
                if isinstance(y, dict)
                else len(y)
            )
            out[t.get("name")] = n
    return out


def main() -> None:
    n = 1_000_000
    data = WRITERS["csv"](np.arange(n), synthetic_norms("llm", n, seed=1), "grad_norm").encode()
    at = AppTest.from_file(APP, default_timeout=300)
    start = time.perf_counter()
    at.run()
    t_first = time.perf_counter() - start
    print(f"baseline: first load with the 3,000-point sample: {t_first:.2f} s (imports included)")
    start = time.perf_counter()
    at.run()
    t_sample = time.perf_counter() - start
    print(f"baseline: rerun with the sample (cached): {t_sample:.2f} s")
    at.file_uploader(key="refine_uploads").set_value(("big.csv", data, "text/csv"))
    start = time.perf_counter()
    at.run()
    t_upload = time.perf_counter() - start
    assert not at.exception and not at.error, (at.exception, at.error)
    print(
        f"upload of a {n:,}-point log ({len(data) / 1e6:.0f} MB) to rendered page: {t_upload:.2f} s "
        f"({t_upload / t_sample:.1f}x the cached sample rerun)"
    )
    at.slider(key="tau").set_value(0.2)
    start = time.perf_counter()
    at.run()
    print(
        f"changing tau on the 1M log (refine again, parse cached): {time.perf_counter() - start:.2f} s"
    )
    pts = points(at)
    print(f"points per trace: max {max(pts.values()):,} over {len(pts)} traces: {pts}")


if __name__ == "__main__":
    main()
