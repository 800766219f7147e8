"""Every page opens without importing torch (or another training stack) into the app's server
(issue 26, item 3). Importing torch takes seconds of the server's one interpreter, during
which every session waits on the import lock, and ~300 MB; the server never trains (runs go to
the worker pool), and the cost model's speed is measured in a child process (app/machine.py).

The pages are opened in a fresh interpreter (AppTest), one after the other, each before any
action (no Start, no Run); the same interpreter then imports the training loop, to show that
the check sees torch when it is there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "lightning", "sklearn")
PAGES = [None, "app_pages/schedules.py", "app_pages/learn.py", "app_pages/demo.py"]
PAGES += ["app_pages/train.py"]

CODE = """
import json, sys
from streamlit.testing.v1 import AppTest

HEAVY, PAGES, MAIN = {heavy!r}, {pages!r}, {main!r}
out = {{}}
for page in PAGES:
    at = AppTest.from_file(MAIN, default_timeout=600)
    if page:
        at.switch_page(page)
    at.run()
    out[page or "app_pages/refine.py"] = {{
        "errors": [str(e.value)[:300] for e in at.exception] + [e.value for e in at.error],
        "heavy": sorted(m for m in HEAVY if m in sys.modules),
        "titles": [t.value for t in at.title],
    }}
sys.path.insert(0, MAIN.rsplit("/", 1)[0])
import machine
out["speed"] = machine.speed()  # the child's measurement (torch imported there, not here)
out["startup"] = machine.startup()  # and how long a training worker took to start there
out["speed_heavy"] = sorted(m for m in HEAVY if m in sys.modules)
import lrcore.train.loop  # the control: the check sees torch once it is imported
out["control"] = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps(out))
"""


def test_pages_open_without_torch():
    code = CODE.format(heavy=HEAVY, pages=PAGES, main=str(ROOT / "app" / "main.py"))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for page in [p or "app_pages/refine.py" for p in PAGES]:
        r = out[page]
        assert r["titles"], f"{page}: no title drawn"
        assert not r["errors"], f"{page}: {r['errors']}"
        assert r["heavy"] == [], f"{page} imported {r['heavy']} into the server"
    assert out["speed"] is not None and out["speed"] > 0, out["speed"]
    # a new interpreter importing torch and the experiments: more than an instant, and less
    # than the child's whole time limit
    assert 0.2 < out["startup"] < 300, out["startup"]
    assert out["speed_heavy"] == []
    assert "torch" in out["control"]
