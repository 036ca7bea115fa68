"""The clone tab (placeholder until its issue lands)."""

import gradio as gr


def build() -> None:
    """Add this tab's components to the current Blocks."""
    gr.Markdown("This tab is coming: it lands with its issue.")
