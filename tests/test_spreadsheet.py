"""lab.spreadsheet: formula-like cells are quoted, plain numbers and placeholders are left alone."""

from __future__ import annotations

import pytest

from lab.spreadsheet import formula_safe


@pytest.mark.parametrize(("cell", "written"), [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("-2+3", "'-2+3"),
    ("+A1", "'+A1"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=x", "'\t=x"),
    ("-", "-"),
    ("-2.5", "-2.5"),
    ("+1e-3", "+1e-3"),
    ("system A", "system A"),
    (0.5, 0.5),
])
def test_formulas_are_quoted_and_data_is_not(cell: object, written: object) -> None:
    assert formula_safe(cell) == written
