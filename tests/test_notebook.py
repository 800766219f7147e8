"""docs/examples/notebook.ipynb runs from top to bottom in a fresh kernel (nbclient, no network:
the sample log is in the checkout, the digits ship with scikit-learn) and draws its figures."""

import base64
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "docs" / "examples" / "notebook.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"


def figures(nb) -> list[dict]:
    return [
        o.data[PLOTLY]
        for c in nb.cells
        for o in c.get("outputs", [])
        if PLOTLY in o.get("data", {})
    ]


def values(v) -> np.ndarray:
    """A trace's x or y: plotly sends numpy arrays as base64 ``{"dtype", "bdata"}``."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=np.float64)


def legend(fig: dict) -> list[str]:
    return [t["name"] for t in fig["data"] if t.get("showlegend") is not False]


def test_the_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
def test_the_example_notebook_runs_and_draws_its_figures(monkeypatch):
    monkeypatch.setenv("PLOTLY_RENDERER", "plotly_mimetype")  # figures as JSON, not 4 MB of JS
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    norms, refined, compared, runs, sweep = figures(nb)
    assert legend(norms) == ["grad_norm (raw)", "grad_norm (median)"]
    assert legend(refined)[:3] == ["refined", "Linear decay", "Cosine decay"]
    for fig in (refined, compared):  # the refined schedule at the log's peak lr, 0.5
        assert values(fig["data"][0]["y"]).max() == pytest.approx(0.5)
    assert values(compared["data"][0]["x"])[-1] == 2999  # every step of the next run
    assert legend(compared) == ["refined", "Linear decay", "Cosine decay", "Warmup-stable-decay"]
    assert sorted(legend(runs)) == ["Cosine decay", "Linear decay", "refined"]
    assert sweep["layout"]["xaxis"]["type"] == "log" and len(legend(sweep)) == 3
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "logreg_digits_sgd.csv: csv" in text and "of the run" in text
