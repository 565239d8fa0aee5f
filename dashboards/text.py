"""Text from files, file names, attributes and URLs, made safe for the page.

Every string that did not come from the app's own code is shown through
:func:`md` (in Markdown/HTML panes), :func:`plain` (widget labels and options
that a browser library may render as HTML) or :func:`public_message` (error
text: no server paths outside the data roots, one line, bounded length).
"""
from __future__ import annotations

import html
import os
import re

__all__ = ["md", "plain", "one_line", "public_message", "shorten"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>$])")
_ABS_PATH = re.compile(r"(?<![\w:/])(/[^\s'\"`,;:()<>]*)")


def shorten(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis in the middle."""
    text = str(text)
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[-(limit - 1 - half):]


def plain(text) -> str:
    """HTML-escaped text, for labels and options of widgets that render HTML (choices.js, Tabulator)."""
    return html.escape(str(text), quote=True)


def md(text) -> str:
    """Text for a Markdown pane: HTML-escaped, Markdown punctuation backslash-escaped (shown literally)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=True)).replace("\n", " ")


def one_line(exc, limit: int = 300) -> str:
    """A message on one line (no traceback), at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def public_message(exc, roots: dict | None = None, limit: int = 300) -> str:
    """An error message fit for the page: one line, server paths replaced.

    Parameters
    ----------
    exc : Exception or str
    roots : dict of str to path, optional
        Names the page knows (``"data"``, ``"uploads"``, ``"runs"``) -> folders:
        a path under one is shown as ``name:relative``; any other absolute
        path is shown by its last component only.
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    pairs = []
    for key, root in (roots or {}).items():
        for r in {str(root), os.path.realpath(str(root))}:
            pairs.append((r.rstrip("/") + "/", f"{key}:"))
    for prefix, key in sorted(pairs, key=lambda p: -len(p[0])):
        text = text.replace(prefix, key)

    def _base(m):
        p = m.group(1)
        return os.path.basename(p.rstrip("/")) or p

    text = _ABS_PATH.sub(_base, text)
    return one_line(text, limit)
