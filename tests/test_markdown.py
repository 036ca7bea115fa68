"""lab.markdown: user text stays literal text when a Markdown renderer (GFM tables, lists) shows it."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from lab.markdown import escape

RENDER = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render


@pytest.mark.parametrize("text", [
    '<a href="https://evil.example/">sysB</a>',
    "<img src=x onerror=alert(1)>",
    "[click](https://evil.example/)",
    "![pic](https://evil.example/x.png)",
    "*bold* _it_ `code` ~~gone~~",
    "line one\n# heading\n- item",
])
def test_user_text_renders_as_the_same_text(text: str) -> None:
    for shown in (RENDER(f"systems: {escape(text)}"), RENDER(f"| a |\n|---|\n| {escape(text)} |")):
        assert not any(tag in shown for tag in ("<a ", "<img", "<em>", "<strong>", "<code>", "<s>", "<h1>", "<li>"))
    assert RENDER(escape("a | b")).count("|") == 1 and "0.5 (ok)" in escape("0.5 (ok)")
