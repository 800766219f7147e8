"""The Schedules page's per-schedule settings (warm-up and the registry's parameters), one
expander per schedule. Widgets only."""

import state
import streamlit as st
import ui

from lrcore import REGISTRY


def _label(p) -> str:
    return p.help[0].upper() + p.help[1:]


def settings(chosen: list[str], total: int, area, refined: str) -> list[tuple]:
    """``(display name, registry name or refined, warm-up steps, params)`` per chosen schedule;
    the expanders go in ``area``, at most four side by side."""
    specs = []
    with_settings = [n for n in chosen if n != refined]
    cols = area.columns(min(max(len(with_settings), 1), 4))
    for name in chosen:
        if name == refined:
            specs.append((refined, refined, 0, {}))
            continue
        i = with_settings.index(name)
        spec = REGISTRY[name]
        with cols[i % len(cols)].expander(f"{spec.label}: settings", expanded=False):
            state.widget_default(f"sch_w_{name}", 0)
            warmup = int(st.number_input("Warm-up steps", 0, total - 1, key=f"sch_w_{name}"))
            params = {p.name: _param(name, p) for p in spec.params}
        specs.append((spec.label, name, warmup, params))
    return specs


def _param(name: str, p):
    key = f"sch_{name}_{p.name}"
    if p.choices:
        return st.selectbox(_label(p), p.choices, key=key, format_func=ui.choice_label)
    if p.kind is str:  # a comma-separated list (boundaries, values, names)
        state.widget_default(key, str(p.default))
        return st.text_input(_label(p), key=key, help=p.help)
    num = int if p.kind is int else float
    state.widget_default(key, num(p.default))
    return st.number_input(
        _label(p),
        min_value=num(p.minimum) if p.minimum is not None else None,
        max_value=num(p.maximum) if p.maximum is not None else None,
        step=1 if p.kind is int else None,
        format="%d" if p.kind is int else "%g",
        key=key,
    )
