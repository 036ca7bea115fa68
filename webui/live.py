"""The Live tab: talk into the browser and hear yourself as the target voice.

Two paths share one admission controller. The low-latency path is a WebSocket
audio route (webui/live_ws.py) with an AudioWorklet client (webui/static/live/),
embedded as an iframe of ``/live/page`` because Gradio does not run inline
scripts inside gr.HTML. The compatibility path (webui/live_compat.py) uses
Gradio's own microphone streaming and is labelled as higher latency.
"""

from __future__ import annotations

import functools
import html
import logging
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from webui import live_compat
from webui.live_ws import CHUNK_MS_CHOICES, LiveService, add_api_routes

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static" / "live"
DEFAULT_ENGINE = "world-knn"


class ConvertBackend:
    """lab.convert behind the two calls the live routes need, imported on first use (the app starts light)."""

    def prepare_target(self, reference: Any, engine: str) -> Any:
        """Prepare a target voice from its reference Audio (see lab.convert.prepare_target)."""
        from lab import convert

        return convert.prepare_target(reference, engine=engine)

    def streamer(self, target: Any, engine: str, chunk_ms: int) -> Any:
        """A fresh StreamingConverter for ``target`` (see lab.convert.streamer)."""
        from lab import convert

        return convert.streamer(target, engine=engine, chunk_ms=chunk_ms)


@functools.cache
def shared_service() -> LiveService:
    """The one LiveService of this process: both browser paths draw on its real-time budget."""
    return LiveService(backend=ConvertBackend(), default_engine=DEFAULT_ENGINE)


def live_engines() -> list[dict[str, Any]]:
    """Converters a live client may pick: the embedded default first, then those that resolve locally."""
    from lab import models

    found = []
    for name, spec in models.SPECS.items():
        if spec.role != "convert" or name == "speecht5-vc":  # SpeechT5-VC converts whole files only
            continue
        location = models.resolve(name).location
        if name == DEFAULT_ENGINE or location in ("checkpoints", "hf-cache"):
            found.append({"name": name, "description": spec.description, "sample_rate": spec.sample_rate,
                          "location": location})
    return sorted(found, key=lambda e: e["name"] != DEFAULT_ENGINE)


def enrolled_voices() -> list[dict[str, str]]:
    """Enrolled voices of lab.voices as ``{"name", "display_name"}``."""
    from lab import voices

    return [{"name": v.name, "display_name": v.display_name} for v in voices.list_voices()]


def add_routes(app: FastAPI, service: LiveService | None = None) -> None:
    """Register the live page, its static client, its config and the WebSocket audio route.

    Args:
        app: the FastAPI app that also serves the Gradio UI.
        service: defaults to :func:`shared_service` (tests pass one with a toy backend).
    """
    service = service or shared_service()
    app.mount("/live/static", StaticFiles(directory=STATIC), name="live-static")

    @app.get("/live/page")
    async def live_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/live/config")
    async def live_config() -> JSONResponse:
        service.admission.reclaim_idle()  # a lapsed session is not shown as active
        return JSONResponse({
            "engines": live_engines(), "default_engine": service.default_engine, "voices": enrolled_voices(),
            "chunk_ms": list(CHUNK_MS_CHOICES),
            "capacity": {"budget_cores": service.admission.budget, "used_cores": service.admission.used,
                         "active_sessions": service.admission.active},
        })

    add_api_routes(app, service)


def build() -> None:
    """Add the Live tab's components to the current Blocks."""
    gr.Markdown(
        "### Live conversion — low-latency path\n"
        "Pick a target voice and press **Start**; wear headphones. Audio travels over a WebSocket in 10–80 ms "
        "chunks and plays through a small jitter buffer; the readout shows where the milliseconds go."
    )
    # The page is our own static file (no user data in this markup); escape anyway so the rule holds.
    src = html.escape("live/page", quote=True)
    gr.HTML(f'<iframe src="{src}" title="Live voice conversion" allow="microphone; autoplay" '
            'style="width:100%;height:330px;border:0"></iframe>')
    with gr.Accordion("Compatibility path: Gradio microphone streaming (higher latency, about 2.7 s)", open=False):
        live_compat.build(shared_service)
