"""Reading a TensorBoard file without the 'tensorboard' extra names the extra to install
(fresh-eyes review: 'cannot read as TensorBoard event file (No module named 'tensorboard')')."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lrcore.logs import LogError, load_log
from lrcore.logs._write import write_log


def test_a_missing_tensorboard_extra_is_named(tmp_path, monkeypatch):
    path = write_log(tmp_path / "tb", np.arange(5), np.linspace(2, 1, 5), "tensorboard")
    assert load_log(path).grad_norms.size == 5
    for name in list(sys.modules):
        if name.split(".")[0] in ("tensorboard", "google_crc32c"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard fails
    monkeypatch.setitem(sys.modules, "google_crc32c", None)
    with pytest.raises(LogError) as e:
        load_log(path)
    assert "needs the 'tensorboard' extra: pip install 'lrcore[tensorboard]'" in str(e.value)
    assert str(e.value).startswith(path.name)
