"""A Streamlit session without a browser: the app's own websocket protocol, as the browser's
Streamlit frontend speaks it, with nothing drawn (for bench_classroom.py).

A student's laptop draws their pages; the host only computes them and sends them. Thirty
headless Chromium tabs on the host under test measure mostly themselves (issue 26: the
browsers took 1,242 of 2,093 core-seconds of a 30-student run, the server 291). This client
sends what the frontend sends (a rerun with the page and the widgets' values, a fragment's
timed rerun, a file's upload through the server's upload route) and reads every message the
server writes back, so that the server does all of a real session's work while the client
costs next to nothing.

What it measures is the server's side of a page: from the rerun sent to the script's
``script_finished``, every element of the page received (the browser's drawing is not in it).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import http.cookiejar
import queue
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileURLs, UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FINISHED = ForwardMsg.ScriptFinishedStatus
ERROR_ALERT = 1  # Alert.Format.ERROR
XSRF_COOKIE = "_streamlit_xsrf"


class ProtocolError(RuntimeError):
    """The server closed the session, or did not answer in time."""


class Session:
    """One browser tab's session: :meth:`open` a page by its address, :meth:`rerun` it with
    changed widgets, :meth:`navigate` to another page, :meth:`upload` a file; every page's
    texts, widgets, exceptions and ``st.error`` alerts are kept for the caller to read."""

    def __init__(self, url: str, timeout: float = 600):
        self.url, self.timeout = url.rstrip("/"), timeout
        self.ws = None
        self.session_id = ""
        self.pages: dict[str, str] = {}  # url path -> page script hash
        self.page_hash = ""
        self.widgets: dict[str, tuple[str, object]] = {}  # label -> (element kind, element)
        self.values: dict[str, WidgetState] = {}  # widget id -> value set by this client
        # the deltas of the current page's run and its fragments': (element kind, bytes)
        self.texts: list[tuple[str, bytes]] = []
        # the current page's st.info/warning/error texts, by their place on the page: an
        # element a fragment redraws in the same place (a queue line that becomes a progress
        # bar) replaces the alert that was there
        self._alerts: dict[tuple[int, ...], str] = {}
        self.headings: list[str] = []  # and its headings (st.title, st.header...)
        self.problems: list[str] = []  # exceptions and st.error shown, lost session
        self.closed = False
        self._finished = asyncio.Event()  # the last full-page run finished
        self._status = -1
        self._started = False  # a full run began since the last full rerun was sent
        self._fragments: dict[str, asyncio.Task] = {}  # fragment id -> its timed reruns
        self._files: dict[str, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    # ------------------------------------------------------------------ connection
    async def load_assets(self, paths: list[str], at_once: int = 6) -> int:
        """What a browser downloads before its first page: ``paths`` (the app's HTML, scripts,
        styles, fonts, as recorded from a real browser's first visit) over ``at_once``
        kept-alive connections, like a browser, gzip accepted; the bytes received."""
        todo: queue.SimpleQueue[str] = queue.SimpleQueue()
        for path in paths:
            todo.put(path)
        where = urllib.parse.urlsplit(self.url)
        base = where.path.rstrip("/")

        def lane() -> int:
            got = 0
            conn = http.client.HTTPConnection(where.hostname, where.port, timeout=self.timeout)
            try:
                while True:
                    try:
                        path = todo.get_nowait()
                    except queue.Empty:
                        return got
                    for attempt in (1, 2):  # the server may close an idle connection
                        try:
                            conn.request("GET", base + path, headers={"Accept-Encoding": "gzip"})
                            got += len(conn.getresponse().read())  # a 404 probe counts too
                            break
                        except (http.client.RemoteDisconnected, ConnectionResetError):
                            conn.close()
                            if attempt == 2:
                                raise
            finally:
                conn.close()

        lanes = min(at_once, len(paths))
        return sum(await asyncio.gather(*(asyncio.to_thread(lane) for _ in range(lanes))))

    async def connect(self) -> None:
        ws_url = "ws" + self.url[len("http") :] + "/_stcore/stream"
        self.ws = await websockets.connect(
            ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=self.timeout
        )
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        self.closed = True
        for task in self._fragments.values():
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    async def _send(self, msg: BackMsg) -> None:
        await self.ws.send(msg.SerializeToString())

    # ------------------------------------------------------------------ reading
    async def _read(self) -> None:
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg, data)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self.closed:
                self.problems.append("lost session: the server closed the websocket")
            self._finished.set()

    def _handle(self, msg: ForwardMsg, data: bytes) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            ns = msg.new_session
            self.session_id = ns.initialize.session_id or self.session_id
            self._pages(ns.app_pages)
            if not msg.metadata.run.fragment_ids:  # a full run: a new page
                for task in self._fragments.values():  # it registers its own fragments
                    task.cancel()
                self._fragments.clear()
                self.texts = []
                self.widgets, self._alerts, self.headings = {}, {}, []
                self._started = True
        elif kind == "navigation":  # the page this run drew (the frontend's current page)
            self._pages(msg.navigation.app_pages)
            self.page_hash = msg.navigation.page_script_hash or self.page_hash
        elif kind == "delta":
            element = ""
            if msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element.WhichOneof("type")
                self._alerts.pop(tuple(msg.metadata.delta_path), None)
                self._element(msg.delta.new_element, tuple(msg.metadata.delta_path))
            self.texts.append((element, data))
        elif kind == "script_finished":
            if msg.script_finished != FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY and (
                msg.script_finished != FINISHED.FINISHED_EARLY_FOR_RERUN
            ):
                self._status = msg.script_finished
                if self._started:  # a run that began after the last rerun sent
                    self._finished.set()
        elif kind == "auto_rerun":
            fid = msg.auto_rerun.fragment_id
            if fid not in self._fragments:
                self._fragments[fid] = asyncio.create_task(
                    self._every(fid, msg.auto_rerun.interval)
                )
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                if task := self._fragments.pop(fid, None):
                    task.cancel()
        elif kind == "file_urls_response":
            fut = self._files.pop(msg.file_urls_response.response_id, None)
            if fut is not None and not fut.done():
                fut.set_result(list(msg.file_urls_response.file_urls))
        elif kind == "page_not_found":
            self.problems.append(f"page not found: {msg.page_not_found.page_name!r}")

    def _pages(self, pages) -> None:
        for p in pages:
            self.pages[p.url_pathname] = p.page_script_hash

    @property
    def alerts(self) -> list[str]:
        """The alerts on the page now, in the order they were drawn."""
        return list(self._alerts.values())

    def _element(self, el, path: tuple[int, ...] = ()) -> None:
        kind = el.WhichOneof("type")
        if kind in ("button", "number_input", "file_uploader", "selectbox", "checkbox"):
            w = getattr(el, kind)
            self.widgets[w.label] = (kind, w)
        elif kind == "heading":
            self.headings.append(el.heading.body)
        elif kind == "exception":
            self.problems.append(f"exception: {el.exception.type}: {el.exception.message[:200]}")
        elif kind == "alert":
            self._alerts[path] = el.alert.body
            if el.alert.format == ERROR_ALERT:
                self.problems.append(f"st.error: {el.alert.body[:200]}")

    async def _every(self, fragment_id: str, interval: float) -> None:
        """A ``st.fragment(run_every=...)``: the frontend reruns it on a timer."""
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            while not self.closed:
                await asyncio.sleep(interval)
                await self._rerun(fragment_id=fragment_id, auto=True)

    # ------------------------------------------------------------------ actions
    async def _rerun(
        self,
        page_name: str = "",
        trigger: WidgetState | None = None,
        fragment_id: str = "",
        auto: bool = False,
        page_hash: str | None = None,
    ) -> None:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = ""
        cs.page_script_hash = self.page_hash if page_hash is None else page_hash
        cs.page_name = page_name
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = auto
        cs.widget_states.widgets.extend(self.values.values())
        if trigger is not None:
            cs.widget_states.widgets.append(trigger)
        await self._send(msg)

    async def _run(self, **kw) -> float:
        """A full-page rerun; the seconds until its ``script_finished`` (ProtocolError on a
        closed session or the timeout)."""
        for task in self._fragments.values():  # the new run registers its own
            task.cancel()
        self._fragments.clear()
        self._finished.clear()
        self._started = False
        start = time.perf_counter()
        await self._rerun(**kw)
        try:
            await asyncio.wait_for(self._finished.wait(), self.timeout)
        except TimeoutError:
            raise ProtocolError(f"no script_finished in {self.timeout:.0f} s") from None
        if self.closed or self.ws.close_code is not None:
            raise ProtocolError("the session was closed")
        return time.perf_counter() - start

    async def open(self, path: str) -> float:
        """The page at ``/path`` in this new session (as typing its address)."""
        return await self._run(page_name=path, page_hash="")

    async def navigate(self, path: str) -> float:
        """Another page of the app (as its link in the sidebar)."""
        if path not in self.pages:
            raise ProtocolError(f"no page at /{path}: the app has {sorted(self.pages)}")
        self.values.clear()  # the frontend sends the new page's widgets only
        return await self._run(page_hash=self.pages[path])

    def widget(self, label: str, kind: str):
        found = self.widgets.get(label)
        if found is None or found[0] != kind:
            raise ProtocolError(f"no {kind} {label!r} on the page")
        return found[1]

    async def click(self, label: str) -> float:
        button = self.widget(label, "button")
        return await self._run(trigger=WidgetState(id=button.id, trigger_value=True))

    async def set_number(self, label: str, value: float) -> float:
        box = self.widget(label, "number_input")
        state = WidgetState(id=box.id)
        if box.data_type == box.INT:
            state.int_value = int(value)
        else:
            state.double_value = float(value)
        self.values[box.id] = state
        return await self._run()

    def shows(self, text: str, besides: str = "") -> bool:
        """``text`` is in the current page's elements (or its fragments'), other than those
        of kind ``besides`` (``"file_uploader"``: a file's name shown elsewhere than in the
        uploader itself)."""
        needle = text.encode()
        return any(needle in data for kind, data in self.texts if not besides or kind != besides)

    async def wait_for(self, text: str, timeout: float, every: float = 0.25) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.shows(text):
                return True
            if self.ws.close_code is not None:
                return False
            await asyncio.sleep(every)
        return False

    async def upload(self, label: str, name: str, data: bytes) -> float:
        """``data`` as the file ``name`` in the file uploader ``label``: the server's upload
        URL asked for, the file sent there (the XSRF cookie and header as a browser sends
        them), then the widget's new value; the seconds until the page's run finished."""
        uploader = self.widget(label, "file_uploader")
        request_id = uuid.uuid4().hex
        fut = self._files[request_id] = asyncio.get_running_loop().create_future()
        msg = BackMsg()
        msg.file_urls_request.request_id = request_id
        msg.file_urls_request.file_names.append(name)
        msg.file_urls_request.session_id = self.session_id
        start = time.perf_counter()
        await self._send(msg)
        urls: list[FileURLs] = await asyncio.wait_for(fut, self.timeout)
        await asyncio.to_thread(self._put, urls[0].upload_url, name, data)
        info = UploadedFileInfo(name=name, size=len(data), file_id=urls[0].file_id)
        info.file_urls.CopyFrom(urls[0])
        state = WidgetState(id=uploader.id)
        state.file_uploader_state_value.uploaded_file_info.append(info)
        self.values[uploader.id] = state
        await self._run()
        return time.perf_counter() - start

    def _put(self, upload_url: str, name: str, data: bytes) -> None:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(self.url + "/_stcore/health", timeout=self.timeout).read()  # its XSRF cookie
        xsrf = next((c.value for c in jar if c.name == XSRF_COOKIE), "")
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        url = upload_url if upload_url.startswith("http") else self.url + upload_url
        req = urllib.request.Request(url, data=body, method="PUT")
        req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        if xsrf:
            req.add_header("X-Xsrftoken", xsrf)
        opener.open(req, timeout=self.timeout).read()
