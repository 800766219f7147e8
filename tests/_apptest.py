"""Shared helpers for the AppTest (server-side) tests of the dashboard pages."""

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).parents[1] / "app" / "main.py")
# AppTest does not wait for the page's polling fragment: Train and check runs its jobs in the
# page's own thread here (lrcore.train.pool: LRCORE_WORKERS=0); tests/test_pool.py covers the
# worker processes
os.environ.setdefault("LRCORE_WORKERS", "0")


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
    """Plotly traces on the page, by name (x and y decoded to lists)."""
    out = {}
    for el in at.get("plotly_chart"):
        for trace in json.loads(el.proto.spec)["data"]:
            out[trace.get("name")] = {
                **trace,
                "x": _array(trace.get("x")),
                "y": _array(trace.get("y")),
            }
    return out


def layouts(at) -> list[dict]:
    return [json.loads(el.proto.spec)["layout"] for el in at.get("plotly_chart")]


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def upload(at, key: str, *files: tuple[str, bytes]):
    at.file_uploader(key=key).set_value([(n, d, "text/plain") for n, d in files])
    return at.run()


def csv_log(steps, norms, metric: str = "grad_norm") -> bytes:
    return (
        f"step,{metric}\n"
        + "".join(f"{int(s)},{float(g)!r}\n" for s, g in zip(steps, norms, strict=True))
    ).encode()


@pytest.fixture
def media(monkeypatch):
    """Capture what download buttons offer: file id -> bytes (callables run on request)."""
    files = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def capture(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    return files


def download(at, files, label: str) -> str:
    """What the download button labelled ``label`` offers (built now if built on click)."""
    (button,) = [b for b in at.get("download_button") if b.proto.label == label]
    if button.proto.url:
        data = files[button.proto.url.rsplit("/", 1)[1].split(".")[0]]
        return data.decode() if isinstance(data, bytes) else str(data)
    return None  # deferred: the page builds it on click
