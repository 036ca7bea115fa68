"""CSV cells that are safe to open in a spreadsheet.

A cell starting with = + - @ (or a tab or carriage return) is run as a formula
by Excel, LibreOffice and Google Sheets; text from manifests, system names and
raters' comments must never be. Such strings get a leading apostrophe, which
spreadsheets show as text and do not display.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: object) -> object:
    """``value``, with an apostrophe in front when it is a string a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
