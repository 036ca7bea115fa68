"""CSV cells that are safe to open in a spreadsheet.

A cell starting with = + - @ (or a tab or carriage return) is run as a formula
by Excel, LibreOffice and Google Sheets; text from manifests, system names and
raters' comments must never be. Such strings get a leading apostrophe, which
spreadsheets show as text and do not display. A plain signed number ("-2.5")
or a lone "-" (a placeholder) is no formula and stays as it is, so other CSV
readers get the same data.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_HARMLESS = re.compile(r"-|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def formula_safe(value: object) -> object:
    """``value``, with an apostrophe in front when it is a string a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _HARMLESS.fullmatch(value):
        return "'" + value
    return value
