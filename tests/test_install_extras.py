"""Installs as users install: the wheel, each documented extra alone in a fresh venv outside
the repo (``pip install 'WHEEL[extra]' -c constraints.txt``), then the commands the README
gives for that extra, run from a folder outside the repo. Fast checks first: every module
an extra's code imports is declared in pyproject.toml, the wheel's contents, the errors
for a missing extra.

The slow test prints one ``install matrix:`` line per extra (run with ``-s`` to see them).
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
import tomllib

import lrcore
from lrcore import _extras
from lrcore.cli import _streamlit_flags, main

ROOT = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
README = (ROOT / "README.md").read_text()
SAMPLE = "logreg_digits_sgd.csv"
TB_SAMPLE = "logreg_digits_sgd_tensorboard"


def _dist(requirement: str) -> str:
    """``"torch>=2.2"`` -> ``"torch"``, normalised (PEP 503)."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(extra: str | None) -> set[str]:
    """Distributions an install of ``lrcore[extra]`` declares (base included, nested
    ``lrcore[...]`` expanded; environment markers for other Pythons left out)."""
    reqs = list(PYPROJECT["dependencies"])
    todo = [extra] if extra else []
    while todo:
        for req in PYPROJECT["optional-dependencies"][todo.pop()]:
            if req.startswith("lrcore["):
                todo += req[len("lrcore[") : req.index("]")].split(",")
            elif "python_version" not in req:
                reqs.append(req)
    return {_dist(r) for r in reqs}


def _provides(module: str) -> set[str]:
    """Distributions that install the top-level ``module`` (installed here)."""
    top = module.split(".")[0]
    return {_dist(d) for d in importlib.metadata.packages_distributions().get(top, [])}


# --------------------------------------------------------------------------- fast checks


@pytest.mark.parametrize("extra", sorted(_extras.EXTRAS))
def test_each_extra_declares_the_modules_lrcore_names_for_it(extra):
    declared = _declared(extra)
    for module in _extras.EXTRAS[extra]:
        assert _provides(module) & declared, f"[{extra}] imports {module}: not declared"


# which extras the code under each path may rely on (beyond the base dependencies)
_ALLOWED = [
    ("lrcore/integrations/hf", {"hf"}),
    ("lrcore/integrations/_hf", {"hf"}),
    ("lrcore/integrations/lightning", {"lightning"}),
    ("lrcore/train/", {"train"}),
    ("lrcore/study/", {"train"}),
    ("lrcore/logs/", {"tensorboard"}),
    ("lrcore/export", {"train"}),  # to_lambda_lr: torch, imported when called
    ("lrcore/plot", {"app"}),  # plotly figures (imported lazily; the app extra brings plotly)
    ("lrcore/executors", {"dask"}),
    (
        "lrcore/_app_args",
        {"app"},
    ),  # lrcore app's settings: streamlit's list of them  # distributed, imported when a scheduler is given
    ("lrcore/", set()),
    ("app/", {"app"}),
]


def _third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    # the app's modules import each other by name (Streamlit puts app/ on sys.path)
    local = {p.stem for p in ROOT.glob("app/**/*.py")} | {"lrcore", "app_pages"}
    return {
        n
        for n in names
        if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] not in local
    }


def test_every_import_is_declared_by_the_extra_its_code_belongs_to():
    """The tqdm crash (issue 25): lrcore/train imported tqdm, no extra declared it."""
    files = [*ROOT.glob("lrcore/**/*.py"), *ROOT.glob("app/**/*.py")]
    assert len(files) > 40
    undeclared = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        extras = next(e for prefix, e in _ALLOWED if rel.startswith(prefix))
        declared = set().union(_declared(None), *(_declared(x) for x in extras))
        for module in sorted(_third_party_imports(path)):
            if module.split(".")[0] in ("tomli", "_pytest", "pytest"):
                continue  # tomli: Python 3.10's tomllib (a marker); tests-only helpers
            if not _provides(module) & declared:
                undeclared.append(f"{rel}: {module}")
    assert not undeclared, undeclared


def test_a_missing_extra_is_named_by_the_cli(monkeypatch, capsys):
    real = _extras._installed
    monkeypatch.setattr(_extras, "_installed", lambda m: m != "torch" and real(m))
    assert main(["run", "--dataset", "digits", "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "lrcore run needs the 'train' extra: pip install 'lrcore[train]'" in err
    assert "'torch'" in err and "Traceback" not in err
    monkeypatch.setattr(_extras, "_installed", lambda m: m != "streamlit" and real(m))
    assert main(["app", "--port", "9"]) == 2
    assert "lrcore app needs the 'app' extra: pip install 'lrcore[app]'" in capsys.readouterr().err


def test_a_module_missing_inside_a_command_names_its_extra(monkeypatch, capsys, tmp_path):
    """An ImportError raised while a command runs (here: reading a log) names the extra."""
    import lrcore.cli as cli

    def boom(args):
        raise ModuleNotFoundError("No module named 'tensorboard'", name="tensorboard")

    monkeypatch.setitem(cli.COMMANDS, "inspect", boom)
    assert main(["inspect", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "lrcore inspect needs the 'tensorboard' extra: pip install 'lrcore[tensorboard]'" in err


@pytest.mark.parametrize(
    "module,extra,blocked",
    [("hf", "hf", "transformers"), ("lightning", "lightning", "lightning"), ("hf", "hf", "torch")],
)
def test_importing_an_integration_without_its_extra_names_it(monkeypatch, module, extra, blocked):
    import lrcore

    # the packages' attributes too: a re-import rebinds lrcore.train / lrcore.integrations,
    # and later tests reach submodules through them (import lrcore.train.recorder as ...)
    for attr in ("train", "integrations"):
        if hasattr(lrcore, attr):
            monkeypatch.setattr(lrcore, attr, getattr(lrcore, attr))
    for name in list(sys.modules):
        if name.startswith(
            ("lrcore.integrations.", "lrcore.train.", f"{blocked}.", "lightning.")
        ) or name in (blocked, "lightning"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, blocked, None)  # import raises ModuleNotFoundError
    with pytest.raises(ModuleNotFoundError, match=rf"needs the '{extra}' extra: pip install"):
        importlib.import_module(f"lrcore.integrations.{module}")


def test_unknown_options_are_refused_except_for_app(capsys):
    assert main(["schedule", "linear", "--total-steps", "5", "--server.port", "1"]) == 2
    assert "unrecognized arguments: --server.port 1" in capsys.readouterr().err


def test_the_dashboard_settings_become_streamlit_flags():
    flags = _streamlit_flags(ROOT / ".streamlit" / "config.toml")
    assert "--server.maxUploadSize=200" in flags and "--server.headless=true" in flags
    assert _streamlit_flags(None) == []


def test_the_readme_install_table_lists_each_extra_and_what_it_adds():
    part = README.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip(" `") for c in r.strip("|").split("|")] for r in part.splitlines()]
    table = {r[0]: r[2] for r in rows if len(r) == 3 and r[0] not in ("extra", "---")}
    extras = set(PYPROJECT["optional-dependencies"]) - {"test"}
    assert set(table) == extras | {"(none)"}
    for extra, adds in table.items():
        named = {_dist(a.strip(" `")) for a in adds.split(",")}
        reqs = PYPROJECT["optional-dependencies"].get(extra, [])
        own = {_dist(r) for r in reqs if "python_version" not in r}  # tomli: 3.10 only
        own = {d for d in own if d != "lrcore"} | {x for x in named if x in extras}
        if extra == "(none)":
            own = {_dist(r) for r in PYPROJECT["dependencies"]}
        assert named == own, (extra, named, own)
    wheel_name = f"lrcore-{lrcore.__version__}-py3-none-any.whl"
    assert wheel_name in part and "pip wheel --no-deps -w dist ." in part


def test_one_version_source():
    assert re.fullmatch(r"\d+\.\d+\.\d+", lrcore.__version__)
    assert "version" in PYPROJECT["dynamic"] and "version" not in PYPROJECT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built once from a copy of the source (no build/ left in the repo, no stale
    files from an earlier build)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
            ".venv", "synthetic_1m*",
        ),
    )  # fmt: skip
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp), str(src)]
    try:  # the build backend is here already: no download
        ok = int(importlib.metadata.version("setuptools").split(".")[0]) >= 77
    except importlib.metadata.PackageNotFoundError:
        ok = False
    if ok:
        cmd.insert(4, "--no-build-isolation")
    subprocess.run(cmd, check=True, capture_output=True, cwd=tmp)
    (path,) = tmp.glob("lrcore-*.whl")
    return path


def test_the_wheel_carries_the_app_its_samples_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    dist = f"lrcore-{lrcore.__version__}.dist-info"
    assert wheel.name.startswith(f"lrcore-{lrcore.__version__}-")
    for app_file in [*ROOT.glob("app/*.py"), *ROOT.glob("app/app_pages/*")]:
        assert f"lrcore/_app/{app_file.relative_to(ROOT / 'app').as_posix()}" in names
    samples = {
        p.relative_to(ROOT).as_posix()
        for p in ROOT.glob("sample_runs/**/*")
        if p.is_file() and p.suffix != ".py" and "synthetic_1m" not in p.name
    }
    assert len(samples) >= 6
    assert {f"lrcore/_app/{s}" for s in samples} <= names
    assert {
        "lrcore/_app/docs/results.csv",
        "lrcore/_app/streamlit/config.toml",
        "lrcore/py.typed",
        f"{dist}/licenses/LICENSE",
    } <= names
    # scripts of the data folders stay out; nothing else of docs/ or the tests goes in
    assert not [n for n in names if n.endswith(("make_samples.py", "make_screenshots.py"))]
    assert not [n for n in names if n.startswith(("tests/", "docs/", "app/"))]
    meta = zipfile.ZipFile(wheel).read(f"{dist}/METADATA").decode()
    assert "License-Expression: MIT" in meta and "Classifier: Typing :: Typed" in meta


# --------------------------------------------------------------------------- installs

CONSTRAINTS = str(ROOT / "constraints.txt")


def _block(heading: str) -> str:
    part = README.split(f"### {heading}\n", 1)[1]
    return part.split("```python\n", 1)[1].split("```", 1)[0]


def _env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONNOUSERSITE="1")
    return env


def _run(venv: Path, cwd: Path, *cmd: str, rc: int = 0, timeout: int = 600):
    done = subprocess.run(
        cmd, cwd=cwd, env=_env(venv), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == rc, f"{' '.join(cmd)} -> {done.returncode}\n{done.stderr[-3000:]}"
    return done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode("utf-8", "replace")


def _serves(venv: Path, cwd: Path) -> str:
    """``lrcore app`` answers on /_stcore/health and serves the page; stopped after."""
    port = _free_port()
    proc = subprocess.Popen(
        ["lrcore", "app", "--port", str(port), "--server.fileWatcherType", "none"],
        cwd=cwd,
        env=_env(venv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, ended below
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = _get(f"http://127.0.0.1:{port}/_stcore/health")
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "lrcore app did not answer in 120 s"
                time.sleep(0.5)
        status, page = _get(f"http://127.0.0.1:{port}/")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert health == (200, "ok")
    assert status == 200 and '<div id="root">' in page
    return f"lrcore app --port {port} (/_stcore/health 200, / 200)"


# the installed app's pages run as the server would run them (AppTest): the sample log and
# the study's numbers are found beside the installed app
_APPTEST = """
import json, sys
from pathlib import Path
from streamlit.testing.v1 import AppTest
import lrcore
app = Path(lrcore.__file__).parent / "_app"
assert "site-packages" in str(app), app
out = {}
for page in ["app_pages/refine.py", "app_pages/demo.py"]:
    at = AppTest.from_file(str(app / "main.py"), default_timeout=120)
    at.switch_page(page)
    at.run()
    out[page] = {"errors": [str(e.value) for e in [*at.exception, *at.error]],
                 "charts": len(at.get("plotly_chart")), "tables": len(at.dataframe)}
print(json.dumps(out))
"""


def _commands(extra: str, venv: Path, work: Path) -> list[str]:
    """Run the README's commands for ``extra`` in ``work``; returns what ran."""
    py = str(venv / "bin" / "python")
    ran = []

    def run(*cmd, rc=0, text=None):
        done = _run(venv, work, *cmd, rc=rc)
        if text is not None:
            assert text in done.stdout + done.stderr, (cmd, done.stderr[-2000:])
        shown = " ".join("python" if c == py else c for c in cmd[:4]).strip()
        ran.append(shown.splitlines()[0][:60] + (" ..." if len(cmd) > 4 else ""))
        return done

    if extra in ("base", "train", "app"):
        assert run("lrcore", "--version").stdout.strip() == f"lrcore {lrcore.__version__}"
        run("lrcore", "inspect", SAMPLE, text="next run:")
        run("lrcore", "refine", SAMPLE, "--steps", "1000", "--out", "lr.csv")
        assert (work / "lr.csv").read_text().count("\n") == 1001
        run("lrcore", "schedule", "cosine", "--total-steps", "100", "--warmup-steps", "5")
        run("lrcore", "bound", SAMPLE)
        code = "import sys, lrcore; assert not {'torch', 'plotly', 'streamlit'} & set(sys.modules)"
        run(py, "-c", code)
    if extra == "base":  # what is missing is named with the extra that brings it
        run("lrcore", "run", "--steps", "5", rc=2, text="needs the 'train' extra")
        run("lrcore", "app", rc=2, text="lrcore app needs the 'app' extra")
        err = run(py, "-c", "import lrcore.integrations.hf", rc=1).stderr
        assert "lrcore.integrations.hf needs the 'hf' extra" in err, err[-500:]
        # the README's advice holds with lrcore from no index: pip reads the installed extra
        pip = [sys.executable, "-m", "pip", "--python", py, "install", "--dry-run"]
        out = run(*pip, "lrcore[train]", "-c", CONSTRAINTS).stdout
        assert re.search(r"Would install .*\btorch-2", out), out[-1000:]
    if extra in ("train", "app"):  # the issue's crash: tqdm was declared by no extra
        run("lrcore", "run", "--dataset", "digits", "--steps", "50", "--out", "run")
        run("lrcore", "refine", "run/grad_norms.csv", "--out", "next.csv")
        tiny = ["--steps", "40", "--seeds", "0", "--peak-lrs", "0.1,0.2", "--no-extend"]
        run("lrcore", "compare", "--task", "svm", "--dataset", "synthetic", *tiny,
            "--schedules", "linear,refined", "--out", "r.csv")  # fmt: skip
        assert (work / "r.csv").is_file()
    if extra in ("tensorboard", "app"):
        run("lrcore", "inspect", TB_SAMPLE, text="format:   tensorboard")
    for name, heading in [
        ("hf", "Hugging Face Trainer"),
        ("lightning", "Lightning"),
        ("optax", "optax (and copy-paste snippets)"),
    ]:
        if extra == name:
            (work / f"readme_{name}.py").write_text(_block(heading))
            run(py, f"readme_{name}.py")
            if name != "optax":
                folder = "hf_run" if name == "hf" else "pl_run"
                run("lrcore", "inspect", f"{folder}/grad_norms.csv", text="adam")
    if extra == "app":
        pages = json.loads(run(py, "-c", _APPTEST).stdout.strip().splitlines()[-1])
        assert not any(p["errors"] for p in pages.values()), pages
        assert pages["app_pages/refine.py"]["charts"] >= 1  # a sample log, drawn
        assert pages["app_pages/demo.py"]["tables"] >= 1  # the study's results.csv, read
        ran.append("AppTest refine + demo pages")
        ran.append(_serves(venv, work))
    return ran


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra", ["base", "train", "tensorboard", "hf", "lightning", "optax", "app"]
)
def test_each_extra_installed_alone_runs_its_readme_commands(extra, wheel, tmp_path):
    venv, work = tmp_path / "venv", tmp_path / "work"
    shutil.copytree(ROOT / "sample_runs", work, ignore=shutil.ignore_patterns("synthetic_1m*"))
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = str(wheel) if extra == "base" else f"{wheel}[{extra}]"
    _run(
        venv,
        work,
        *[sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"],
        # --no-compile: no .pyc for torch's thousands of files (minutes on 2 cores); what is
        # installed is the same
        *["-q", "--no-compile", target, "-c", CONSTRAINTS],
        timeout=1200,
    )
    installed = time.monotonic() - start
    ran = _commands(extra, venv, work)
    print(
        f"\ninstall matrix: [{extra}] install {installed:.0f} s, commands "
        f"{time.monotonic() - start - installed:.0f} s: {'; '.join(ran)}"
    )
