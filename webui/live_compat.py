"""The Live tab's compatibility path: Gradio's built-in microphone streaming in, one continuous stream out.

For browsers or networks where the WebSocket page cannot run. Gradio sends the
microphone in slices through its queue (``mic.stream``); converted audio goes
into the session's outbox, and one generator started with the recording
(``mic.start_recording``) yields it as a single continuous output stream (Gradio
streams generator output as HLS). The delay is far higher than the WebSocket
path and the UI says so. Conversion is the same :class:`lab.streaming.StreamSession`,
holding a lease on the same admission controller; the lease lapses after
``IDLE_CLOSE_S`` without a slice, whether or not the player is still running
(an API client may never start one). Slices nobody plays are not kept beyond
``MAX_UNPLAYED_SLICES``: the stream closes and says why.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import numpy as np

from lab.audio import Audio, AudioError, from_array, to_wav_bytes
from lab.live_sessions import Busy, Lease
from lab.streaming import StreamSession, StreamState
from webui.errors import user_error

log = logging.getLogger(__name__)

CHUNK_MS = 40  # converter hop here; Gradio slices the microphone every STREAM_EVERY_S anyway
STREAM_EVERY_S = 0.1
YIELD_EVERY_S = 0.5  # how often the player generator hands Gradio a piece of the output stream
WAIT_FOR_MIC_S = 30.0
IDLE_CLOSE_S = 5.0  # no microphone slice for this long: the page is gone (Gradio does not stop the generator)
MAX_STREAM_S = 600
# Converted slices waiting for a player (10 s at the browser's pace; the player takes them every YIELD_EVERY_S).
# More means nobody plays them: the player ended (slices paused for IDLE_CLOSE_S, then resumed) or never started.
MAX_UNPLAYED_SLICES = round(10 / STREAM_EVERY_S)
NOBODY_PLAYS = ("Nobody is playing the converted audio (the output stream ended after a pause, or was never "
                "started): stop and record again.")


@dataclass
class CompatStream:
    """One browser session's compatibility stream: converter session, state, lease and output queue."""

    session: StreamSession
    state: StreamState
    lease: Lease
    outbox: queue.Queue = field(default_factory=queue.Queue)
    closed: threading.Event = field(default_factory=threading.Event)


def _open(service: Any, reference_path: str | None, voice: str | None, rate: int, session_hash: str) -> CompatStream:
    if voice:
        info = asyncio.run(service.prepare_voice(voice, service.default_engine))
    elif reference_path:
        with open(reference_path, "rb") as f:
            info = asyncio.run(service.prepare_reference(f.read(), service.default_engine))
    else:
        raise user_error("Pick an enrolled voice or upload a reference recording first.")
    hello = {"type": "hello", "sample_rate": rate, "target_id": info["target_id"], "chunk_ms": CHUNK_MS}
    session, lease, _ = asyncio.run(service.open_session(hello, idle_timeout_s=IDLE_CLOSE_S,
                                                         on_reclaim=lambda: _forget_lapsed(service, session_hash)))
    return CompatStream(session, session.initial_state(), lease)


def _forget_lapsed(service: Any, session_hash: str) -> None:
    """A lease lapsed: close the session's stream if it is the one that held it (not a newer one)."""
    stream = service.compat_streams.get(session_hash)
    if stream is not None and stream.lease.released:
        close(service, session_hash)


def convert_chunk(service: Any, chunk: tuple[int, np.ndarray] | None, reference_path: str | None,
                  voice: str | None, session_hash: str) -> str:
    """One microphone slice in; its converted audio goes to the session's outbox. Returns the readout.

    Raises:
        gr.Error: no target, busy server, or unusable audio (shown to the user).
    """
    if chunk is None:
        return ""
    rate, samples = chunk
    stream = service.compat_streams.get(session_hash)
    opened = False
    try:
        x = from_array(samples, rate) if len(samples) else Audio(np.zeros(0, np.float32), rate)
        if stream is None or stream.closed.is_set():
            stream = _open(service, reference_path, voice, rate, session_hash)
            service.compat_streams[session_hash], opened = stream, True
        if rate != stream.session.client_rate:
            raise user_error(f"The microphone rate changed mid-stream ({stream.session.client_rate} -> {rate} Hz). "
                           "Stop and record again.")
        y, stream.state = stream.session.step(x.samples, stream.state)
        stream.lease.touch()
    except (Busy, AudioError, ValueError, gr.Error) as exc:
        if opened:  # a stream that never converted a slice must not keep its capacity
            close(service, session_hash)
        if isinstance(exc, gr.Error):
            raise
        raise user_error(exc) from exc
    if stream.outbox.qsize() >= MAX_UNPLAYED_SLICES:
        close(service, session_hash)
        raise user_error(NOBODY_PLAYS)
    stream.outbox.put(y)
    r = stream.session.report(stream.state)
    return (f"compute p50 {r['compute_p50_ms']:.1f} ms · p95 {r['compute_p95_ms']:.1f} ms per {r['hop_ms']:.0f} ms "
            f"hop · RTF {r['rtf']:.2f} · algorithmic {r['algorithmic_ms']:.0f} ms (+ Gradio's slicing, queue and "
            "stream encoding)") if r["hops"] else ""


def play(service: Any, session_hash: str) -> Iterator[bytes]:
    """Yield the session's converted audio as one continuous stream until the recording stops."""
    deadline = time.monotonic() + WAIT_FOR_MIC_S
    while (stream := service.compat_streams.get(session_hash)) is None or stream.closed.is_set():
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    started = time.monotonic()
    try:
        while (not stream.closed.is_set() and time.monotonic() - started < MAX_STREAM_S
               and time.monotonic() - stream.lease.touched < IDLE_CLOSE_S):
            time.sleep(YIELD_EVERY_S)
            parts = []
            while not stream.outbox.empty():
                parts.append(stream.outbox.get_nowait())
            audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            if len(audio):
                yield to_wav_bytes(Audio(audio, stream.session.client_rate))
    finally:
        close(service, session_hash)


def close(service: Any, session_hash: str) -> str:
    """Recording stopped or the page left: end the output stream and free the capacity."""
    stream = service.compat_streams.pop(session_hash, None)
    if stream is not None:
        stream.closed.set()
        stream.lease.release()
    return "Stopped."


def build(service_factory: Callable[[], Any]) -> None:
    """Add the compatibility-path components (inside the Live tab)."""
    with gr.Row():
        voice = gr.Dropdown(label="Enrolled voice", choices=[], value=None, allow_custom_value=False)
        reference = gr.Audio(sources=["upload"], type="filepath", label="…or a reference recording of the target",
                             elem_id="live-compat-reference")
    mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone (Gradio streaming)",
                   elem_id="live-compat-mic")
    # show_recording_waveform=False: with the waveform player a streaming output never attaches a new
    # stream source in Gradio 6 (gradio-app/gradio#13807)
    out = gr.Audio(streaming=True, autoplay=True, interactive=False, label="Converted voice (one continuous stream)",
                   elem_id="live-compat-out", waveform_options=gr.WaveformOptions(show_recording_waveform=False))
    info = gr.Markdown()

    def on_chunk(chunk: Any, ref: str | None, name: str | None, request: gr.Request) -> str:
        return convert_chunk(service_factory(), chunk, ref, name, request.session_hash)

    def on_start(request: gr.Request) -> Iterator[bytes]:
        yield from play(service_factory(), request.session_hash)

    def on_stop(request: gr.Request) -> str:
        return close(service_factory(), request.session_hash)

    mic.stream(on_chunk, [mic, reference, voice], info, stream_every=STREAM_EVERY_S, time_limit=MAX_STREAM_S,
               concurrency_limit=None)
    mic.start_recording(on_start, None, out, concurrency_limit=None)
    mic.stop_recording(on_stop, None, info)
    voice.focus(_voice_choices, None, voice)


def _voice_choices() -> gr.Dropdown:
    from webui.live import enrolled_voices

    return gr.Dropdown(choices=[v["name"] for v in enrolled_voices()])
