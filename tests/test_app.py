"""AppTest (server-side) checks of every dashboard page."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).parents[1] / "app" / "main.py")
PAGES = [
    "app_pages/refine.py",
    "app_pages/schedules.py",
    "app_pages/train.py",
    "app_pages/learn.py",
    "app_pages/demo.py",
]
STEPS = np.arange(0, 200, 10)
NORMS = np.r_[np.linspace(4, 1, 10), np.linspace(1, 2, 10)]


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if page:
        at.switch_page(page)
    return at.run()


def _array(v):
    """Plotly sends numpy data as {"dtype", "bdata" (base64)}; plain lists stay lists."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return v


def charts(at) -> dict[str, dict]:
    """Plotly figures on the page, by their traces' names (x and y decoded to lists)."""
    out = {}
    for el in at.get("plotly_chart"):
        for trace in json.loads(el.proto.spec)["data"]:
            out[trace.get("name")] = {
                **trace,
                "x": _array(trace.get("x")),
                "y": _array(trace.get("y")),
            }
    return out


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def media(monkeypatch):
    """Capture what download buttons offer: file id -> bytes."""
    files = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def capture(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = (
            path_or_data if isinstance(path_or_data, bytes) else str(path_or_data).encode()
        )
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    return files


def download(at, files, label: str) -> str:
    (button,) = [b for b in at.get("download_button") if b.proto.label == label]
    return files[button.proto.url.rsplit("/", 1)[1].split(".")[0]].decode()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_without_exception(page):
    assert_clean(app(page))


def test_sessions_do_not_share_uploads_or_runs():
    first = app()
    first.file_uploader(key="refine_uploads").set_value(
        ("mine.csv", b"step,grad_norm\n0,3\n1,2\n2,1\n", "text/csv")
    ).run()
    assert "refined" in charts(first) and first.session_state["refine_logs"][0].source == "mine.csv"
    second = app()  # a new browser tab is a new session
    assert second.session_state["refine_logs"][0].source == "logreg_digits_sgd.csv"
    assert "train_result" not in second.session_state
