import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is installed by the test extra")
def test_ruff_is_clean():
    r = subprocess.run(["ruff", "check", str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
