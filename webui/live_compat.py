"""The Live tab's compatibility path: Gradio's built-in microphone streaming in, one continuous stream out.

For browsers or networks where the WebSocket page cannot run. Gradio sends
the microphone in fixed slices through its queue and plays the output as an
encoded stream, so the delay is far higher than the WebSocket path; the UI
says so. Conversion itself is the same :class:`lab.streaming.StreamSession`,
and a session holds a lease on the same admission controller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from lab.audio import Audio, AudioError, from_array, to_wav_bytes
from lab.live_sessions import Busy, Lease
from lab.streaming import StreamSession, StreamState

log = logging.getLogger(__name__)

CHUNK_MS = 40  # converter hop here; Gradio slices the microphone every STREAM_EVERY_S anyway
STREAM_EVERY_S = 0.1


@dataclass
class CompatStream:
    """One browser's compatibility stream: the session, its state and its capacity lease."""

    session: StreamSession
    state: StreamState
    lease: Lease

    def release(self) -> None:
        """Give the capacity back (safe to call twice)."""
        self.lease.release()


def release_stream(stream: CompatStream | None) -> None:
    """gr.State delete callback and stop handler: frees the capacity of a closed stream."""
    if stream is not None:
        stream.release()


def _open(service: Any, reference_path: str | None, voice: str | None, rate: int) -> CompatStream:
    import asyncio

    if voice:
        info = asyncio.run(service.prepare_voice(voice, service.default_engine))
    elif reference_path:
        with open(reference_path, "rb") as f:
            info = asyncio.run(service.prepare_reference(f.read(), service.default_engine))
    else:
        raise gr.Error("Pick an enrolled voice or upload a reference recording first.")
    hello = {"type": "hello", "sample_rate": rate, "target_id": info["target_id"], "chunk_ms": CHUNK_MS}
    session, lease, _ = asyncio.run(service.open_session(hello))
    return CompatStream(session, session.initial_state(), lease)


def convert_chunk(service_factory: Callable[[], Any], chunk: tuple[int, np.ndarray] | None,
                  reference_path: str | None, voice: str | None,
                  stream: CompatStream | None) -> tuple[bytes | None, CompatStream | None, str]:
    """One microphone slice in, the converted audio ready so far out (WAV bytes for the output stream).

    Raises:
        gr.Error: no target, busy server, or unusable audio (shown to the user).
    """
    if chunk is None:
        return None, stream, ""
    rate, samples = chunk
    try:
        x = from_array(samples, rate) if len(samples) else Audio(np.zeros(0, np.float32), rate)
        if stream is None:
            stream = _open(service_factory(), reference_path, voice, rate)
        if rate != stream.session.client_rate:
            raise gr.Error(f"The microphone rate changed mid-stream ({stream.session.client_rate} -> {rate} Hz). "
                           "Stop and record again.")
        y, stream.state = stream.session.step(x.samples, stream.state)
    except Busy as exc:
        raise gr.Error(str(exc)) from exc
    except (AudioError, ValueError) as exc:
        raise gr.Error(str(exc)) from exc
    r = stream.session.report(stream.state)
    info = (f"compute p50 {r['compute_p50_ms']:.1f} ms · p95 {r['compute_p95_ms']:.1f} ms per "
            f"{r['hop_ms']:.0f} ms hop · RTF {r['rtf']:.2f} · algorithmic {r['algorithmic_ms']:.0f} ms "
            "(+ Gradio's slicing, queue and stream encoding)") if r["hops"] else ""
    out = to_wav_bytes(Audio(y, rate)) if len(y) else None
    return out, stream, info


def stop(stream: CompatStream | None) -> tuple[None, str]:
    """Stop pressed: release the session."""
    release_stream(stream)
    return None, "Stopped."


def build(service_factory: Callable[[], Any]) -> None:
    """Add the compatibility-path components (inside the Live tab)."""
    with gr.Row():
        voice = gr.Dropdown(label="Enrolled voice", choices=[], value=None, allow_custom_value=False)
        reference = gr.Audio(sources=["upload"], type="filepath", label="…or a reference recording of the target")
    mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone (Gradio streaming)")
    out = gr.Audio(streaming=True, autoplay=True, interactive=False, label="Converted voice (one continuous stream)")
    info = gr.Markdown()
    stream = gr.State(None, delete_callback=release_stream)
    mic.stream(lambda c, r, v, s: convert_chunk(service_factory, c, r, v, s), [mic, reference, voice, stream],
               [out, stream, info], stream_every=STREAM_EVERY_S, time_limit=600, concurrency_limit=None)
    mic.stop_recording(stop, [stream], [stream, info])
    voice.focus(_voice_choices, None, voice)


def _voice_choices() -> gr.Dropdown:
    from webui.live import enrolled_voices

    return gr.Dropdown(choices=[v["name"] for v in enrolled_voices()])
