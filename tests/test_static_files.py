"""app/static_files.py: Streamlit's frontend files, compressed once and sent from memory
(``lrcore app`` serves app/serve.py, which puts it before Streamlit)."""

import asyncio
import gzip
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
from static_files import ROOT, CompressedStatic  # noqa: E402

JS = sorted((ROOT / "static" / "js").glob("*.js"))


def _ask(middleware, path, method="GET", **headers):
    """What the middleware sends for one request: (status, headers, body), or "streamlit"
    where it hands the request on."""
    sent = []

    async def streamlit_app(scope, receive, send):
        sent.append("streamlit")

    middleware.app = streamlit_app
    headers = {"accept-encoding": "gzip, deflate, br", **headers}
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }

    async def send(message):
        sent.append(message)

    asyncio.run(middleware(scope, None, send))
    if sent == ["streamlit"]:
        return "streamlit"
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


def test_a_script_comes_compressed_and_unpacks_to_the_file():
    m = CompressedStatic(None, preload=False)
    big = max(JS, key=lambda p: p.stat().st_size)  # the chart library's bundle, 4.7 MB
    status, head, body = _ask(m, f"/static/js/{big.name}")
    assert status == 200 and head[b"content-encoding"] == b"gzip"
    assert head[b"content-type"].startswith((b"text/javascript", b"application/javascript"))
    assert int(head[b"content-length"]) == len(body) < big.stat().st_size / 2
    assert gzip.decompress(body) == big.read_bytes()
    # HEAD: the same headers, no body
    status, head2, body = _ask(m, f"/static/js/{big.name}", method="HEAD")
    assert (status, head2, body) == (200, head, b"")


def test_fonts_are_sent_as_they_are():
    font = next((ROOT / "static" / "media").glob("*.woff2"))
    status, head, body = _ask(CompressedStatic(None, preload=False), f"/static/media/{font.name}")
    assert status == 200 and b"content-encoding" not in head and body == font.read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../index.html",  # out of the folder
        "/static/js/../../index.html",
        "/static/js/%2e%2e/x.js",
        "/static/js/missing.js",
        "/static/js",  # a folder
        "/static/",
        "/",  # the page itself: Streamlit's (not cached, its own headers)
        "/favicon.png",
        "/static/js/a\x00b.js",  # a NUL byte: Path.resolve raised ValueError (a 500)
        "/static/js/" + "x" * 300 + ".js",  # too long a name: OSError (a 500)
    ],
)
def test_what_is_not_one_of_the_files_goes_to_streamlit(path):
    m = CompressedStatic(None, preload=False)
    assert _ask(m, path) == "streamlit"
    assert m._files == {}  # a made-up path takes no memory


def test_no_gzip_a_range_or_a_post_go_to_streamlit():
    m = CompressedStatic(None, preload=False)
    path = f"/static/js/{JS[0].name}"
    assert _ask(m, path, **{"accept-encoding": "identity"}) == "streamlit"
    assert _ask(m, path, **{"accept-encoding": "br, gzip;q=0"}) == "streamlit"
    assert _ask(m, path, range="bytes=0-10") == "streamlit"
    assert _ask(m, path, method="POST") == "streamlit"


def test_under_a_base_url_only_its_prefix_is_served():
    m = CompressedStatic(None, base_url="/class/", preload=False)
    assert _ask(m, f"/class/static/js/{JS[0].name}")[0] == 200
    assert _ask(m, f"/static/js/{JS[0].name}") == "streamlit"


def test_every_file_is_compressed_in_the_background_when_it_starts():
    m = CompressedStatic(None)
    files = [p for p in (ROOT / "static").rglob("*") if p.is_file()]
    deadline = time.monotonic() + 60
    while len(m._files) < len(files) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(m._files) == len(files) > 300
    packed = sum(len(e.body) for e in m._files.values())
    raw = sum(p.stat().st_size for p in files)
    assert packed < raw / 2, (packed, raw)


def test_students_asking_at_once_share_one_compression(monkeypatch):
    import static_files

    calls = []
    real = static_files._load

    def counted(file):
        calls.append(file)
        time.sleep(0.2)  # long enough for every request to find the load under way
        return real(file)

    monkeypatch.setattr(static_files, "_load", counted)
    m = CompressedStatic(None, preload=False)
    path = f"/static/js/{JS[0].name}"

    async def ten():
        return await asyncio.gather(*(m._entry(path) for _ in range(10)))

    entries = asyncio.run(ten())
    assert len(calls) == 1 and all(e is entries[0] for e in entries)


def test_a_file_streamlit_sends_plain_still_varies_with_the_encoding():
    sent = []

    async def streamlit_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"1")]})
        await send({"type": "http.response.body", "body": b"x"})

    async def send(message):
        sent.append(message)

    m = CompressedStatic(streamlit_app, preload=False)
    for path, vary in ((f"/static/js/{JS[0].name}", True), ("/", False)):
        sent.clear()
        scope = {"type": "http", "method": "GET", "path": path, "headers": []}  # no gzip
        asyncio.run(m(scope, None, send))
        head = dict(sent[0]["headers"])
        assert head[b"a"] == b"1" and (head.get(b"vary") == b"Accept-Encoding") == vary


def test_serve_imports_the_pages_modules_before_the_server_answers():
    """The first student's first page does not pay for lrcore, scipy, pandas and plotly."""
    import subprocess

    app_dir = Path(__file__).parents[1] / "app"
    code = (
        f"import sys; sys.path.insert(0, {str(app_dir)!r}); import serve; "
        "print(sorted(m for m in ('cached', 'train_run', 'lrcore.analysis', 'scipy.optimize', "
        "'plotly.graph_objects', 'pandas', 'torch') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    out = proc.stdout
    assert "No runtime found" not in proc.stderr  # the cache's warning, muted while preloading
    # every helper module and what it needs, and still no torch (training runs in workers)
    assert out.split("\n")[-2] == str(
        sorted(
            [
                "cached",
                "train_run",
                "lrcore.analysis",
                "scipy.optimize",
                "plotly.graph_objects",
                "pandas",
            ]
        )
    )


def test_a_module_that_fails_to_preload_does_not_stop_the_server():
    """Its page shows the error when it imports the module, as before the preload."""
    import subprocess

    app_dir = Path(__file__).parents[1] / "app"
    code = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'words':\n"
        "            raise ImportError('no words today')\n"
        "sys.meta_path.insert(0, Refuse())\n"
        f"sys.path.insert(0, {str(app_dir)!r})\n"
        "import serve\n"
        "print('app' in vars(serve), 'cached' in sys.modules, 'words' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[-2] == "True True False"  # the others preloaded
    assert "preloading words: no words today" in proc.stderr
