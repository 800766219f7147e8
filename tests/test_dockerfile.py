"""The container recipe (Dockerfile, .dockerignore) without a Docker daemon: the recipe is
parsed and checked (pinned base, non-root user, health check, CPU torch, nothing fetched at run
time), and what it runs is run here: the wheel built from exactly the build context that
.dockerignore leaves, installed, and the image's CMD started in a network namespace with no way
out, where the image's HEALTHCHECK command must answer. The slow install of the [app] extra
itself is tests/test_install_extras.py's (it serves ``lrcore app`` from a fresh venv)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import tomllib
from test_install_extras import _free_port
from test_install_extras import (
    test_the_wheel_carries_the_app_its_samples_and_the_license as _check_wheel,
)
from test_install_extras import wheel as checkout_wheel  # noqa: F401  (a fixture)

ROOT = Path(__file__).parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# fetches the page's main script (named in the page) with gzip accepted; prints the encoding,
# the bytes sent and their size unpacked
BUNDLE = """import gzip, re, sys, urllib.request as u
base = sys.argv[1]
js = re.search(r"static/js/index[.][^.]+[.]js", u.urlopen(base).read().decode()).group(0)
r = u.urlopen(u.Request(base + js, headers={"Accept-Encoding": "gzip"}))
body = r.read()
print(r.headers.get("Content-Encoding"), len(body), len(gzip.decompress(body)))
"""


def parse(text: str) -> list[tuple[str, str]]:
    """Dockerfile text -> ``[(INSTRUCTION, arguments)]``: comment lines dropped (also inside a
    continued instruction, as Docker does), lines ending in a backslash joined."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.strip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def stages(instructions) -> list[list[tuple[str, str]]]:
    """The build stages, each starting with its FROM."""
    result = []
    for ins in instructions:
        if ins[0] == "FROM":
            result.append([])
        assert result, f"{ins} before the first FROM"
        result[-1].append(ins)
    return result


def env_of(stage) -> dict[str, str]:
    """The ENV values a stage sets (``ENV A=1 B=2``)."""
    env = {}
    for word, args in stage:
        if word == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(args))
    return env


def command(args: str) -> list[str]:
    """A CMD / ENTRYPOINT as argv: the JSON form as is, the shell form through ``sh -c``."""
    return json.loads(args) if args.startswith("[") else ["/bin/sh", "-c", args]


def health_command(args: str) -> list[str]:
    """HEALTHCHECK's command as argv (its options dropped)."""
    args = re.sub(r"^(--\S+\s+)*", "", args)
    assert args.startswith("CMD "), args
    return command(args[4:])


DOCKERFILE = parse((ROOT / "Dockerfile").read_text())
STAGES = stages(DOCKERFILE)
FINAL = STAGES[-1]


def one(stage, word: str) -> str:
    found = [args for w, args in stage if w == word]
    assert found, f"no {word} in the final stage"
    return found[-1]  # Docker uses the last one


# --------------------------------------------------------------------------- the recipe


def test_the_parser_reads_continued_lines_and_skips_comments():
    text = 'FROM a:1.2.3\n# note\nRUN x \\\n  # inside\n  && y\n\nCMD ["p", "q"]\n'
    assert parse(text) == [("FROM", "a:1.2.3"), ("RUN", "x    && y"), ("CMD", '["p", "q"]')]
    assert command('["p", "q"]') == ["p", "q"] and command("p q") == ["/bin/sh", "-c", "p q"]
    assert health_command("--interval=5s CMD curl -f x") == ["/bin/sh", "-c", "curl -f x"]
    assert health_command('--retries=3 CMD ["a", "b"]') == ["a", "b"]


def test_every_base_image_is_pinned_to_a_release():
    names = set()
    for stage in STAGES:
        image, *rest = stage[0][1].split()
        if image in names:
            continue  # FROM an earlier stage
        name, _, tag = image.partition(":")
        pinned = re.fullmatch(r"\d+\.\d+\.\d+-[a-z]+-[a-z]+(@sha256:[0-9a-f]{64})?", tag)
        assert pinned, f"FROM {image}: pin the patch release and the OS release"
        if rest:
            names.add(rest[-1])  # FROM image AS name
    # the Python the suite runs on (pyproject's classifiers)
    python = re.match(r"\d+\.\d+", FINAL[0][1].split(":")[1]).group(0)
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    assert f"Programming Language :: Python :: {python}" in classifiers


def test_it_runs_as_a_user_that_is_not_root():
    user = one(FINAL, "USER").split(":")[0]
    # a number (a host or Kubernetes' runAsNonRoot can check it), of a user the image creates
    assert user.isdigit() and int(user) >= 1000, user
    created = [a for w, a in FINAL if w == "RUN" and re.search(rf"useradd .*--uid {user} ", a)]
    assert created, f"USER {user} is never created"
    words = [w for w, _ in FINAL]
    after = words[words.index("USER") :]
    assert "RUN" not in after and "CMD" in after  # nothing installs or runs as root after it


def test_the_health_check_asks_streamlit_on_the_exposed_port():
    check = " ".join(health_command(one(FINAL, "HEALTHCHECK")))
    assert "/_stcore/health" in check and "127.0.0.1" in check
    assert "STREAMLIT_SERVER_PORT" in check
    assert one(FINAL, "EXPOSE") == env_of(FINAL)["STREAMLIT_SERVER_PORT"] == "8501"


def test_torch_is_the_cpu_build_and_the_app_extra_only():
    installs = [a for w, a in FINAL if w == "RUN" and "pip install" in a]
    assert len(installs) == 1, installs
    install = installs[0]
    assert f"--extra-index-url {CPU_INDEX}" in install or f"--index-url {CPU_INDEX}" in install
    assert re.search(r"-c \S*constraints\.txt", install)
    assert re.findall(r"\[([a-z,]+)\]", install) == ["app"]
    # the build fails if a CUDA build came in
    assert "torch.version.cuda is None" in install
    # constraints.txt pins torch's version, so the extra index can only change the build
    pins = re.findall(r"^torch==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    assert len(pins) == 1 and re.fullmatch(r"\d+\.\d+\.\d+", pins[0]), pins
    assert ("COPY", "constraints.txt /tmp/constraints.txt") in FINAL


def test_nothing_is_fetched_by_add_curl_or_git():
    for word, args in DOCKERFILE:
        assert not (word == "ADD" and re.search(r"(https?|git)://|git@", args)), args
        if word == "RUN":
            assert not re.search(r"\b(curl|wget|git clone)\b", args), args


def test_nothing_leaves_the_host_at_run_time():
    env = env_of(FINAL)
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False  # what `lrcore app` passes on
    # what runs in the container names no host but its own
    for word in ("CMD", "HEALTHCHECK", "ENTRYPOINT"):
        for args in (a for w, a in FINAL if w == word):
            hosts = set(re.findall(r"://([^/:'\"\s]+)", args))
            assert hosts <= {"127.0.0.1", "localhost"}, (word, hosts)
    assert "--server.address=0.0.0.0" in one(FINAL, "CMD")  # the published port reaches it


def test_the_class_settings_have_defaults_and_are_documented():
    env = env_of(FINAL)
    assert int(env["LRCORE_SESSION_RUNS"]) >= 1
    cmd = command(one(FINAL, "CMD"))
    assert 'LRCORE_WORKERS="${LRCORE_WORKERS:-$(nproc)}"' in cmd[-1]
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Host it for a class\n", 1)[1].split("\n## ", 1)[0]
    for name in ("LRCORE_WORKERS", "LRCORE_SESSION_RUNS", "STREAMLIT_SERVER_PORT", "--memory"):
        assert name in section, name
    assert "docker build" in section and "docker run" in section


# --------------------------------------------------------------------------- the build context


def _pattern(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regex (Go's filepath.Match plus ``**``: ``*`` and ``?``
    stop at ``/``, ``**`` crosses folders)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out)


def _rules() -> list[tuple[bool, re.Pattern]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keep = line.startswith("!")
            rules.append((keep, _pattern(line.lstrip("!").strip("/"))))
    return rules


def ignored(path: str, rules) -> bool:
    """As Docker decides: the last pattern that matches the path or a folder above it wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for keep, pattern in rules:
        if any(pattern.fullmatch(p) for p in prefixes):
            result = not keep
    return result


def context(dest: Path) -> list[str]:
    """Copy the files ``docker build .`` would send (the checkout less .dockerignore)."""
    rules, sent = _rules(), []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and not ignored(rel, rules):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
            sent.append(rel)
    return sent


def test_the_ignore_patterns_match_as_docker_matches():
    rules = [(False, _pattern("*")), (True, _pattern("app")), (False, _pattern("**/*.pyc"))]
    assert ignored("tests/x.py", rules) and not ignored("app/main.py", rules)
    assert ignored("app/sub/m.pyc", rules) and ignored("m.pyc", rules)
    assert not _pattern("a*").fullmatch("ab/c")  # * does not cross a folder


def test_the_build_context_is_the_package_and_nothing_else():
    rules = _rules()
    for keep in ("setup.py", "lrcore/cli.py", "app/main.py", ".streamlit/config.toml"):
        assert not ignored(keep, rules), keep
    for drop in (".git/HEAD", "tests/test_app.py", "build/lib/lrcore/cli.py", "docs/theory.md"):
        assert ignored(drop, rules), drop
    assert ignored("lrcore/__pycache__/cli.cpython-311.pyc", rules)
    assert not ignored("docs/results.csv", rules)
    # every COPY from the context names something that is sent
    for word, args in DOCKERFILE:
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert source == "." or not ignored(source, rules), source


@pytest.fixture(scope="module")
def image_wheel(tmp_path_factory) -> Path:
    """The wheel as the Dockerfile's first stage builds it: ``pip wheel --no-deps`` from the
    build context (setuptools is here already: no build isolation, no download)."""
    tmp = tmp_path_factory.mktemp("image")
    src = tmp / "src"
    sent = context(src)
    assert not [s for s in sent if s.startswith((".git/", "tests/", "build/", "benchmarks/"))]
    assert "RUN pip wheel --no-deps -w /dist ." in [f"{w} {a}" for w, a in STAGES[0]]
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*cmd, "-w", str(tmp / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("lrcore-*.whl")
    return wheel


@pytest.mark.slow
def test_the_image_wheel_is_the_checkout_s(image_wheel, checkout_wheel):  # noqa: F811
    """The image gets what a user's ``pip wheel`` of the whole checkout gets (the ``wheel``
    fixture of tests/test_install_extras.py), file for file: .dockerignore drops nothing."""
    _check_wheel(image_wheel)  # the app, its samples, settings, study results and the license
    image, full = zipfile.ZipFile(image_wheel), zipfile.ZipFile(checkout_wheel)
    assert sorted(image.namelist()) == sorted(full.namelist())
    for name in image.namelist():
        if not name.endswith(".dist-info/RECORD"):
            assert image.read(name) == full.read(name), name


def _in_netns(pid: int, env: dict, *cmd: str) -> subprocess.CompletedProcess:
    net = f"--net=/proc/{pid}/ns/net"
    return subprocess.run(
        ["nsenter", net, "--", *cmd], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_the_image_command_serves_offline_and_answers_its_health_check(image_wheel, tmp_path):
    """The CMD and HEALTHCHECK, verbatim, with the image's ENV, in a network namespace that has
    only a loopback device: the server starts with nothing reachable, serves the page from the
    installed wheel, and LRCORE_WORKERS defaults to nproc."""
    tools = all(shutil.which(t) for t in ("unshare", "nsenter", "ip"))
    if os.geteuid() != 0 or not tools or subprocess.run(["unshare", "--net", "true"]).returncode:
        pytest.skip("a network namespace needs root, unshare, nsenter and ip (CI has them)")
    venv, home = tmp_path / "venv", tmp_path / "home"
    home.mkdir()
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        check=True,
    )
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    flags = ["-q", "--no-deps", "--no-compile", "--ignore-installed", str(image_wheel)]
    subprocess.run([*pip, *flags], check=True, capture_output=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LRCORE_"))}
    env.update(env_of(FINAL), STREAMLIT_SERVER_PORT=str(port), HOME=str(home))
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    check = health_command(one(FINAL, "HEALTHCHECK"))
    up = ["/bin/sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    server = subprocess.Popen(
        ["unshare", "--net", "--", *up, *command(one(FINAL, "CMD"))],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 150
        while (health := _in_netns(server.pid, env, *check)).returncode != 0:
            assert server.poll() is None, server.stdout.read().decode()
            assert time.monotonic() < deadline, f"no health in 150 s: {health.stderr[-1000:]}"
            time.sleep(1)
        # the same process all along (sh and lrcore app exec): it is the Streamlit server
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode().split("\0")
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().decode().split("\0")
        fetch = "import sys, urllib.request as u; print(len(u.urlopen(sys.argv[1]).read()))"
        page = _in_netns(server.pid, env, "python", "-c", fetch, f"http://127.0.0.1:{port}/")
        # the page's own script bundle, as a browser asks for it: compressed (app/serve.py)
        bundle = _in_netns(server.pid, env, "python", "-c", BUNDLE, f"http://127.0.0.1:{port}/")
        routes = _in_netns(server.pid, env, "ip", "-o", "route").stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    said = server.stdout.read().decode()
    # headless Streamlit asks checkip.amazonaws.com for an External URL unless
    # browser.serverAddress is set (config.toml): offline, it says it could not
    assert "external IP" not in said and "External URL" not in said, said[-2000:]
    assert argv[1:4] == ["-m", "streamlit", "run"]
    python = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert argv[4] == str(venv / "lib" / python / "site-packages" / "lrcore" / "_app" / "serve.py")
    assert "--server.address=0.0.0.0" in argv and "--browser.gatherUsageStats=false" in argv
    nproc = subprocess.run(["nproc"], env=env, capture_output=True, text=True).stdout.strip()
    workers = [e for e in environ if e.startswith("LRCORE_WORKERS=")]
    assert workers == [f"LRCORE_WORKERS={nproc}"], (workers, nproc)
    assert page.returncode == 0 and int(page.stdout) > 500, page.stderr[-1000:]
    assert bundle.returncode == 0, bundle.stderr[-1000:]
    encoding, sent, size = bundle.stdout.split()
    assert encoding == "gzip" and int(sent) < int(size) / 2, bundle.stdout
    assert routes.strip() == "", routes  # no route out: what it served, it served offline
    # where nothing answers on the port (this host's namespace), the same check fails
    assert subprocess.run(check, env=env, capture_output=True).returncode != 0
