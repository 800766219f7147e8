"""The dashboard for a class: ``streamlit run app/serve.py`` (what ``lrcore app`` and the
Dockerfile start). The same pages as ``streamlit run app/main.py``, with Streamlit's own
frontend files (``/static/...``: the page's scripts, styles and fonts) served gzip-compressed
and from memory.

Why: every student's first page downloads about 10 MB of those files (the Plotly chart alone
is 4.7 MB), which Streamlit serves uncompressed, reading each file in 64 KB pieces on the
server's one event loop (it leaves compression to a reverse proxy). With 30 students opening
the app together that was most of the server's work while their first pages waited
(benchmarks/bench_classroom.py). Compressed once (about a quarter of the bytes) and kept in
memory, each file is one write.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import pathlib

import streamlit as st
from starlette.middleware import Middleware
from static_files import CompressedStatic

# The pages' modules (lrcore with scipy, pandas, plotly: 0.9 s on the 2-core host) are
# imported now, before the server answers, instead of in the first student's first page.
# One that fails is left to its page, which shows the error as it did (the server starts).
# Their @st.cache_data lines check their settings against a throwaway in-memory cache while no
# runtime exists yet, and say so ("No runtime found, using MemoryCacheStorageManager"); the
# first call uses the runtime's cache: that warning is muted here.
_cache_log = logging.getLogger("streamlit.runtime.caching.cache_data_api")
_level = _cache_log.level
_cache_log.setLevel(logging.ERROR)
try:
    for _module in sorted(pathlib.Path(__file__).parent.glob("*.py")):
        if _module.stem not in ("main", "serve"):
            try:
                importlib.import_module(_module.stem)
            except Exception as e:  # noqa: BLE001 - any import error: the page will say it
                logging.getLogger("lrcore.app").warning("preloading %s: %s", _module.stem, e)
finally:
    _cache_log.setLevel(_level)


@contextlib.asynccontextmanager
async def _lifespan(_app):
    """On the way out (Ctrl-C, ``docker stop``'s SIGTERM): the training workers end and the
    pools' queues close before the server does. Without it the process ended by its signal
    with them open, and Python's resource tracker warned of 5 leaked semaphores."""
    yield
    from lrcore.train.pool import close_all

    closed = close_all()
    if closed:
        logging.getLogger("lrcore.app").info("closed %d worker pool(s)", closed)


app = st.App("main.py", middleware=[Middleware(CompressedStatic)], lifespan=_lifespan)
