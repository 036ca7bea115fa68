"""Errors shown to the user: plain text in Gradio's error modal, without a logged traceback."""

from __future__ import annotations

import html

import gradio as gr


def user_error(message: str | BaseException) -> gr.Error:
    """A gr.Error that shows ``message`` as written.

    Gradio renders an error's message as HTML: user text in it (a voice name, a markup tag the text check
    refused) would be rendered, or dropped by its sanitiser. ``<``, ``>`` and ``&`` are escaped; quotes stay
    as they are. The problem is the user's, so no traceback is logged for it.
    """
    return gr.Error(html.escape(str(message), quote=False), print_exception=False)
