"""``lrcore app``'s pass-through Streamlit settings, checked in our words before Streamlit
starts (needs the ``app`` extra: it reads Streamlit's own list of settings)."""

from __future__ import annotations

from lrcore._text import for_terminal


def check_streamlit_args(tokens: list[str]) -> None:
    """Refuse, in our words, what ``streamlit run`` would answer with its own usage text or a
    traceback: an option that is not a Streamlit setting, a value of the wrong type, a port
    out of range (``lrcore app --server.port 99999`` ended in a bind() traceback)."""
    from streamlit import config

    options = config.get_config_options()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise ValueError(
                f"app: unexpected argument {for_terminal(token)!r} (Streamlit settings go as "
                "--section.name VALUE, e.g. --server.address 0.0.0.0)"
            )
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise ValueError(f"app: --{for_terminal(key)} needs a value")
            value, i = tokens[i + 1], i + 1
        i += 1
        option = options.get(key)
        if option is None or "." not in key:
            raise ValueError(
                f"app: --{for_terminal(key)} is not a Streamlit setting (`streamlit config "
                "show` lists them; lrcore app's own options: --port)"
            )
        kind = option.type
        try:
            if kind is bool:
                if value.lower() not in ("true", "false"):
                    raise ValueError
            elif kind in (int, float):
                number = kind(value)
                if key == "server.port" and not 1 <= number <= 65535:
                    raise ValueError
        except ValueError:
            want = {bool: "true or false", int: "a whole number", float: "a number"}[kind]
            if key == "server.port":
                want = "a whole number from 1 to 65535"
            raise ValueError(f"app: --{key} must be {want}, got {for_terminal(value)!r}") from None
