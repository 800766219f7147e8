"""Streamlit's frontend files (``/static/...``), gzip-compressed once and served from memory:
an ASGI middleware for ``st.App`` (app/serve.py).

Streamlit serves these files uncompressed, reading each one in 64 KB pieces on the server's
event loop; its own notes leave compression to a reverse proxy. Each file here is read and
compressed once, in a background thread started with the server (all of them: about 0.8 s of
CPU for 23 MB of scripts, 7 MB once compressed), and every request is one write from memory.
A file asked for before the thread reached it is loaded then, in a thread of its own.

Only files under Streamlit's ``static/static/`` folder (content-hashed bundles, styles, fonts,
images) are served here, only for GET or HEAD without a Range; all else (the page itself, a
Range, a path that is not such a file) goes to Streamlit unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import mimetypes
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit

ROOT = Path(streamlit.__file__).parent / "static"
PREFIX = "/static/"
# the files are content-hashed (a new Streamlit has new names): as Streamlit sends them
CACHE = b"public, immutable, max-age=31536000"
# already compressed formats are kept as they are
STORED = {".woff2", ".woff", ".png", ".gif", ".jpg", ".jpeg", ".webp", ".ico"}


@dataclass(frozen=True)
class Entry:
    body: bytes
    gzipped: bool
    media_type: bytes


def _load(path: Path) -> Entry:
    raw = path.read_bytes()
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media.startswith("text/") or media == "application/javascript":
        media += "; charset=utf-8"
    if path.suffix.lower() not in STORED:
        packed = gzip.compress(raw, compresslevel=9, mtime=0)
        if len(packed) < 0.9 * len(raw):
            return Entry(packed, True, media.encode())
    return Entry(raw, False, media.encode())


def _vary(send):
    """``send`` with ``Vary: Accept-Encoding`` added to a response's headers."""

    async def sending(message) -> None:
        if message["type"] == "http.response.start":
            head = list(message.get("headers", []))
            if not any(k.lower() == b"vary" for k, _ in head):
                head.append((b"vary", b"Accept-Encoding"))
            message = {**message, "headers": head}
        await send(message)

    return sending


def accepts_gzip(header: bytes) -> bool:
    """An ``Accept-Encoding`` header allows gzip (``gzip;q=0`` refuses it).

    >>> [accepts_gzip(h) for h in (b"gzip, deflate, br", b"br;q=1.0, gzip;q=0", b"*", b"")]
    [True, False, True, False]
    """
    allowed = {}
    for part in header.decode("latin-1").lower().split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        allowed[name.strip()] = q > 0
    return allowed.get("gzip", allowed.get("x-gzip", allowed.get("*", False)))


class CompressedStatic:
    """ASGI middleware: ``Middleware(CompressedStatic)`` in ``st.App(..., middleware=[...])``.

    >>> import asyncio
    >>> async def streamlit_app(scope, receive, send):
    ...     sent.append("streamlit")
    >>> async def send(message):
    ...     sent.append(message)
    >>> def get(path, encoding=b"gzip, br"):
    ...     headers = [(b"accept-encoding", encoding)] if encoding else []
    ...     scope = {"type": "http", "method": "GET", "path": path, "headers": headers}
    ...     asyncio.run(CompressedStatic(streamlit_app, preload=False)(scope, None, send))
    >>> sent = []
    >>> name = next((ROOT / "static" / "js").glob("index.*.js")).name
    >>> get(f"/static/js/{name}")
    >>> head = dict(sent[0]["headers"])
    >>> sent[0]["status"], head[b"content-encoding"], head[b"cache-control"]
    (200, b'gzip', b'public, immutable, max-age=31536000')
    >>> body = gzip.decompress(sent[1]["body"])
    >>> body == (ROOT / "static" / "js" / name).read_bytes()
    True
    >>> sent = []
    >>> for path in ["/static/../index.html", "/static/js/missing.js", "/", "/static/js"]:
    ...     get(path)
    >>> get(f"/static/js/{name}", encoding=None)
    >>> sent
    ['streamlit', 'streamlit', 'streamlit', 'streamlit', 'streamlit']
    """

    def __init__(
        self, app, root: Path = ROOT, base_url: str | None = None, preload: bool = True
    ) -> None:
        self.app = app
        self.root = root.resolve()
        if base_url is None:
            base_url = streamlit.config.get_option("server.baseUrlPath") or ""
        base = base_url.strip("/")
        self.prefix = f"/{base}{PREFIX}" if base else PREFIX
        # request path -> its entry (set whole by one thread or the event loop: no lock)
        self._files: dict[str, Entry] = {}
        self._loading: dict[str, asyncio.Future[Entry]] = {}  # the event loop's own
        if preload:
            threading.Thread(target=self._preload, name="static-gzip", daemon=True).start()

    def _preload(self) -> None:
        folder = self.root / "static"
        for file in sorted(folder.rglob("*")):
            path = self.prefix + file.relative_to(folder).as_posix()
            if path not in self._files and self._file(path) is not None:
                with contextlib.suppress(OSError):  # asked for later, it goes to Streamlit
                    self._files[path] = _load(file)

    def _file(self, path: str) -> Path | None:
        rel = path[len(self.prefix) :]
        if not rel or "\\" in rel or any(p in ("", ".", "..") for p in rel.split("/")):
            return None
        try:  # a NUL byte or an over-long name in a stranger's path: not a file
            file = (self.root / "static" / rel).resolve()
            if not file.is_relative_to(self.root) or not file.is_file():
                return None
        except (OSError, ValueError):
            return None
        return file

    async def _entry(self, path: str) -> Entry | None:
        entry = self._files.get(path)
        if entry is not None:
            return entry
        loading = self._loading.get(path)
        if loading is None:  # one load per file, however many ask for it at once
            file = self._file(path)
            if file is None:  # not remembered: a stranger's made-up paths take no memory
                return None
            loading = self._loading[path] = asyncio.ensure_future(asyncio.to_thread(_load, file))
        try:
            entry = self._files[path] = await asyncio.shield(loading)
        except OSError:
            return None
        finally:
            self._loading.pop(path, None)
        return entry

    async def __call__(self, scope, receive, send) -> None:
        entry, ours = None, False
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and scope["path"].startswith(self.prefix)
        ):
            ours = True
            headers = dict(scope["headers"])
            if b"range" not in headers and accepts_gzip(headers.get(b"accept-encoding", b"")):
                entry = await self._entry(scope["path"])
        if entry is None:
            # one of these files sent plain by Streamlit (no gzip asked for, a Range): a shared
            # cache must not hand that copy to a browser that asks for gzip, nor the reverse
            await self.app(scope, receive, _vary(send) if ours else send)
            return
        head = [
            (b"content-type", entry.media_type),
            (b"content-length", str(len(entry.body)).encode()),
            (b"cache-control", CACHE),
            (b"vary", b"Accept-Encoding"),
        ]
        if entry.gzipped:
            head.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": head})
        body = entry.body if scope["method"] == "GET" else b""
        await send({"type": "http.response.body", "body": body})
