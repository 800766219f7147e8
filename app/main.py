"""lrcore dashboard: ``streamlit run app/main.py``. Layout only; lrcore computes."""

import contextlib

import machine
import numpy as np
import state
import streamlit as st

import lrcore
from lrcore._text import for_markdown
from lrcore.train.pool import check_env

# numpy asks the kernel for huge pages for every large array; where the kernel compacts memory
# to find them on request (transparent_hugepage/defrag = madvise, a common default), reading a
# 150 MB log stalls for a quarter of a second now and then (0.30 s or 0.57 s, measured). The
# server keeps steady times instead (0.34 s). numpy's own switch (NUMPY_MADVISE_HUGEPAGE=0).
with contextlib.suppress(AttributeError):  # a numpy without the switch
    np._core.multiarray._set_madvise_hugepage(False)

st.set_page_config(
    page_title="lrcore: learning-rate schedules",
    page_icon="📉",  # an emoji: drawn in the page (a :material: icon fetches from a font host)
    layout="wide",
)

try:  # the server's settings (LRCORE_WORKERS, LRCORE_SESSION_RUNS): said before any page
    check_env()
except ValueError as e:
    st.error(
        f"This server cannot start its pages: {for_markdown(str(e))}.", icon=":material/error:"
    )
    st.stop()

pages = [
    st.Page(
        "app_pages/refine.py", title="Refine a log", icon=":material/auto_fix_high:", default=True
    ),
    st.Page("app_pages/schedules.py", title="Schedules", icon=":material/show_chart:"),
    st.Page("app_pages/train.py", title="Train and check", icon=":material/science:"),
    st.Page("app_pages/learn.py", title="Learn", icon=":material/school:"),
    st.Page(
        "app_pages/demo.py", title="See it work", icon=":material/play_circle:", url_path="demo"
    ),
]
page = st.navigation(pages)
# settings survive a visit to another page (Streamlit forgets undrawn widgets otherwise)
state.keep_widget_state(st.session_state)
state.note_page(page.title)
with st.sidebar:
    st.caption(
        f"lrcore {lrcore.__version__} · schedules from "
        "[schedule refinement](https://arxiv.org/abs/2310.07831)"
    )
machine.start()  # the cost model's speed, measured in a child process (no torch here)
page.run()
