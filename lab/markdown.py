"""Text from users (system names, file names, transcripts) placed into Markdown as literal text.

Markdown renderers also pass raw HTML through and turn ``[text](url)`` into
links, so both are neutralised: HTML special characters become entities and
the inline Markdown punctuation (links, emphasis, code, strike-through, table
pipes) is backslash-escaped; a line break becomes a space, so one value never
spans table rows or list items and line-start syntax (#, -, 1.) cannot occur.
"""

from __future__ import annotations

import html
import re
from typing import Any

_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def escape(text: Any) -> str:
    """``text`` as literal Markdown (no HTML, links, emphasis, code or table breaks)."""
    flat = re.sub(r"\s*[\r\n]+\s*", " ", str(text))
    return _PUNCTUATION.sub(r"\\\1", html.escape(flat, quote=False))
