"""AppTest (server-side) checks of every dashboard page."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from lrcore import refine, stretch
from lrcore.logs._write import WRITERS, write_log

APP = str(Path(__file__).parents[1] / "app" / "main.py")
PAGES = [
    "app_pages/refine.py",
    "app_pages/schedules.py",
    "app_pages/train.py",
    "app_pages/learn.py",
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


def test_first_visit_shows_a_sample_and_its_refined_schedule():
    at = app()
    assert_clean(at)
    traces = charts(at)
    assert {"refined", "Linear decay", "Cosine decay", "grad_norm (median)"} <= set(traces)
    assert len(at.get("download_button")) == 4
    assert any("theory prefers" in c.value for c in at.caption)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_uploading_each_format_gives_the_refined_chart(tmp_path, fmt):
    path = write_log(tmp_path / f"log_{fmt}.txt", STEPS, NORMS, fmt)
    at = app()
    at.file_uploader(key="refine_uploads").set_value(
        (path.name, path.read_bytes(), "text/plain")
    ).run()
    assert_clean(at)
    steps = STEPS if fmt != "text" else np.arange(len(NORMS))
    span = int(steps[-1] - steps[0] + 1)
    expected = 0.1 * stretch(refine(NORMS, 0.1, "sgd"), span, steps=steps)
    np.testing.assert_allclose(charts(at)["refined"]["y"], expected, rtol=1e-6, atol=1e-12)


def test_tensorboard_event_upload(tmp_path):
    folder = write_log(tmp_path / "tb", STEPS, NORMS, "tensorboard")
    event = next(folder.glob("*tfevents*"))
    at = app()
    at.file_uploader(key="refine_uploads").set_value(
        (event.name, event.read_bytes(), "application/octet-stream")
    ).run()
    assert_clean(at)
    assert "refined" in charts(at)


def test_changing_tau_changes_the_refined_schedule_and_csv_equals_refine(media):
    norms = np.r_[np.linspace(5, 1, 100), np.ones(200), np.linspace(1, 3, 100)] * (
        1 + 0.3 * np.sin(np.arange(400))
    )
    data = ("step,grad_norm\n" + "".join(f"{i},{g}\n" for i, g in enumerate(norms))).encode()
    at = app()
    at.file_uploader(key="refine_uploads").set_value(("g.csv", data, "text/csv")).run()
    before = np.array(charts(at)["refined"]["y"])
    csv = download(at, media, "Schedule as CSV")
    lr = np.loadtxt(csv.splitlines()[1:], delimiter=",")[:, 1]
    np.testing.assert_allclose(
        lr, 0.1 * refine(norms, tau=0.1, optimizer="sgd"), rtol=1e-8, atol=1e-15
    )

    at.slider(key="tau").set_value(0.3).run()
    assert_clean(at)
    after = np.array(charts(at)["refined"]["y"])
    assert np.abs(after - before).max() > 1e-3 * 0.1  # more than 0.1% of the peak lr
    np.testing.assert_allclose(after, 0.1 * refine(norms, 0.3, "sgd"), rtol=1e-6, atol=1e-12)
    csv = download(at, media, "Schedule as CSV")
    lr = np.loadtxt(csv.splitlines()[1:], delimiter=",")[:, 1]
    np.testing.assert_allclose(
        lr, 0.1 * refine(norms, tau=0.3, optimizer="sgd"), rtol=1e-8, atol=1e-15
    )


def test_l1_metric_preselects_adam_and_several_uploads_overlay():
    a = b"step,grad_norm_l1\n0,4\n1,2\n2,1\n3,1\n"
    b = b"step,grad_norm\n0,1\n1,1\n2,2\n3,3\n"
    at = app()
    at.file_uploader(key="refine_uploads").set_value(
        [("a.csv", a, "text/csv"), ("b.csv", b, "text/csv")]
    ).run()
    assert_clean(at)
    traces = charts(at)
    assert {"refined: a.csv", "refined: b.csv"} <= set(traces)
    np.testing.assert_allclose(
        traces["refined: a.csv"]["y"], 0.1 * refine([4, 2, 1, 1.0], 0.1, "adam")
    )
    assert at.radio[0].value == "adam"


def test_malformed_upload_shows_an_error_and_keeps_what_was_on_screen():
    at = app()
    shown = charts(at)["refined"]["y"]
    at.file_uploader(key="refine_uploads").set_value(
        ("bad.csv", b"step,grad_norm\n0,1\n1,abc\n", "text/csv")
    ).run()
    assert not at.exception
    assert any("bad.csv, line 3: 'abc'" in e.value for e in at.error)
    assert any("Still showing" in w.value for w in at.warning)
    assert charts(at)["refined"]["y"] == shown


def test_wandb_with_two_runs_offers_a_select_box():
    text = (
        b'"Step","r1 - grad_norm","r1 - grad_norm__MIN","r2 - grad_norm","r2 - grad_norm__MIN"\n'
        b'"0","4","4","1","1"\n"1","2","2","1","1"\n"2","1","1","2","2"\n'
    )
    at = app()
    at.file_uploader(key="refine_uploads").set_value(("w.csv", text, "text/csv")).run()
    assert_clean(at)
    box = [s for s in at.selectbox if "Series in" in s.label][0]
    assert box.options == ["r1 - grad_norm", "r2 - grad_norm"]
    box.set_value("r2 - grad_norm").run()
    assert_clean(at)
    np.testing.assert_allclose(charts(at)["refined"]["y"], 0.1 * refine([1, 1, 2.0]))


def test_schedules_page_builds_and_scores_schedules():
    at = app("app_pages/schedules.py")
    at.multiselect(key="sch_chosen").set_value(["linear", "constant", "polynomial"]).run()
    assert_clean(at)
    assert {"Linear decay", "Constant", "Polynomial decay"} <= set(charts(at))
    table = at.dataframe[0].value
    assert table.iloc[0]["schedule"] == "Linear decay"  # sorted by bound: linear beats constant
    at.radio(key="sch_norms").set_value("upload a log").run()
    at.file_uploader(key="sch_upload").set_value(
        ("g.csv", b"step,grad_norm\n0,3\n1,2\n2,1\n", "text/csv")
    ).run()
    assert_clean(at)
    assert any("stretched to 1,000 steps" in c.value for c in at.caption)


def test_training_page_runs_and_shows_its_table_then_sends_the_log():
    at = app("app_pages/train.py")
    at.number_input(key="tr_steps").set_value(60)
    at.number_input(key="tr_seeds").set_value(2)
    at.multiselect(key="tr_sched").set_value(
        ["linear", "cosine", "refined (from a linear run first)"]
    )
    at.button[0].click().run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert table["schedule"].tolist() == ["linear", "cosine", "refined"]
    assert all("±" in v for v in table["final train loss"])
    assert "train loss" in json.dumps(json.loads(at.get("plotly_chart")[-1].proto.spec)["layout"])
    at.button(key="send_log").click().run()
    assert_clean(at)
    assert any("sent from 'Train and check'" in i.value for i in at.info)
    assert "refined" in charts(at)


def test_training_page_reports_bad_input_as_a_message():
    at = app("app_pages/train.py")
    at.text_input(key="tr_peaks").set_value("0.1, fast")
    at.button[0].click().run()
    assert not at.exception
    assert any("'0.1, fast' is not a number" in e.value for e in at.error)


def test_sessions_do_not_share_uploads_or_runs():
    first = app()
    first.file_uploader(key="refine_uploads").set_value(
        ("mine.csv", b"step,grad_norm\n0,3\n1,2\n2,1\n", "text/csv")
    ).run()
    assert "refined" in charts(first) and first.session_state["refine_logs"][0].source == "mine.csv"
    second = app()  # a new browser tab is a new session
    assert second.session_state["refine_logs"][0].source == "logreg_digits_sgd.csv"
    assert "train_result" not in second.session_state
