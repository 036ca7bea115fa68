"""Voice Lab: the Gradio app (clone, live conversion, TTS, evaluation, listening tests).

Run ``python app.py`` (or ``make run``) and open http://127.0.0.1:7860.
Nothing heavy is imported or loaded here: models load when a user asks.
"""

from __future__ import annotations

import os

import gradio as gr
from fastapi import FastAPI

from webui import clone, evaluate, listen, live, tts

TABS = (("Clone", clone), ("Live", live), ("Text to speech", tts), ("Evaluate", evaluate), ("Listen", listen))
MAX_UPLOAD = "200mb"


def build_blocks() -> gr.Blocks:
    """The Blocks UI: one tab per module in TABS."""
    # Gradio keeps copies of uploads and returned files in its cache: drop those older than 6 h, hourly.
    with gr.Blocks(title="Voice Lab", delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown("# Voice Lab\nClone voices, convert them live, synthesise speech and prove how good it is.")
        with gr.Tabs():
            for title, module in TABS:
                with gr.Tab(title):
                    module.build()
    return demo


def build_app() -> FastAPI:
    """FastAPI app serving extra routes (WebSocket audio, listening API) and the Gradio UI at /."""
    app = FastAPI(title="Voice Lab")
    for _, module in TABS:
        if hasattr(module, "add_routes"):
            module.add_routes(app)
    demo = build_blocks()
    demo.queue(default_concurrency_limit=2)
    return gr.mount_gradio_app(app, demo, path="/", max_file_size=MAX_UPLOAD, ssr_mode=False)


def listen_address() -> tuple[str, int]:
    """(host, port) to serve on: Gradio's own variables first (a Hugging Face Space sets GRADIO_SERVER_NAME=0.0.0.0
    and GRADIO_SERVER_PORT), then HOST / PORT; locally 127.0.0.1:7860."""
    host = os.environ.get("GRADIO_SERVER_NAME") or os.environ.get("HOST") or "127.0.0.1"
    port = os.environ.get("GRADIO_SERVER_PORT") or os.environ.get("PORT") or "7860"
    return host, int(port)


if __name__ == "__main__":
    import uvicorn

    host, port = listen_address()
    uvicorn.run(build_app(), host=host, port=port)
