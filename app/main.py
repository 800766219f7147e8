"""lrcore dashboard: ``streamlit run app/main.py``. Layout only; lrcore computes."""

import streamlit as st
import ui

import lrcore

st.set_page_config(
    page_title="lrcore: learning-rate schedules",
    page_icon=":material/trending_down:",
    layout="wide",
)

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
ui.keep_widget_state(st.session_state)
st.session_state["_prev_page"] = st.session_state.get("_page")
st.session_state["_page"] = page.title
with st.sidebar:
    st.caption(
        f"lrcore {lrcore.__version__} · schedules from "
        "[schedule refinement](https://arxiv.org/abs/2310.07831)"
    )
page.run()
