"""Names and values from a user's file, made safe to show.

``for_markdown`` escapes what markdown (Streamlit's ``st.error`` / ``st.markdown``, labels)
would interpret: a file named ``![x](http://evil)`` or a column ``[click](http://x)`` shows
as the text it is. ``for_terminal`` makes control characters and escape sequences visible
(``\\x1b`` printed as those four characters), so a zip member's name cannot change the
terminal's colours or title. ``for_plotly`` escapes Plotly's HTML subset in chart labels.
"""

from __future__ import annotations

import html
import re
import string

# every ASCII punctuation character may be backslash-escaped in CommonMark; ':' stops
# Streamlit's :emoji: / :color[...] directives, '$' its LaTeX
_MD_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
# C0 and C1 controls, DEL, and the Unicode line / paragraph separators and bidi overrides
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(m: re.Match) -> str:
    return (
        repr(m[0])[1:-1] if m[0] not in "\n\r\t" else {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[m[0]]
    )


def for_terminal(text) -> str:
    """``text`` with every control character shown as its escape (``\\x1b``, ``\\n``, ``\\u202e``).

    >>> for_terminal("run\\x1b[31mred\\x07.csv")
    'run\\\\x1b[31mred\\\\x07.csv'
    >>> for_terminal("plain name.csv")
    'plain name.csv'
    """
    return _CONTROL.sub(_visible, str(text))


# GitHub-flavoured markdown turns bare addresses into links even when their punctuation is
# escaped (``http\\:\\/\\/e\\.vil`` still links): a word joiner (U+2060, invisible) after the
# scheme, after ``www`` and before ``@`` breaks the pattern the autolinker looks for
_AUTOLINK = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=ftp)(?=:)|(?<=www)(?=\.)|(?=@)")


def for_markdown(text) -> str:
    """``text`` shown literally by markdown: punctuation backslash-escaped, controls visible,
    bare addresses not turned into links.

    >>> for_markdown("![x](e.vil/a.png) **b**")
    '\\\\!\\\\[x\\\\]\\\\(e\\\\.vil\\\\/a\\\\.png\\\\) \\\\*\\\\*b\\\\*\\\\*'
    >>> for_markdown("http://e.vil a@b.c") == "http\u2060\\\\:\\\\/\\\\/e\\\\.vil a\u2060\\\\@b\\\\.c"
    True
    """
    return _MD_SPECIAL.sub(r"\\\1", _AUTOLINK.sub("\u2060", for_terminal(text)))


def for_plotly(text) -> str:
    """``text`` shown literally in a Plotly label (legend, hover, title): Plotly reads a small
    HTML subset there (``<a href>``, ``<b>``, ``<br>``, entities), so ``&``, ``<`` and ``>``
    become entities, which it shows as the characters; controls are made visible.

    >>> for_plotly('<a href="http://x">a</a> & <b>b</b>.csv')
    '&lt;a href="http://x"&gt;a&lt;/a&gt; &amp; &lt;b&gt;b&lt;/b&gt;.csv'
    """
    return html.escape(for_terminal(text), quote=False)
