"""The low-latency live path: a WebSocket audio route plus the small HTTP API its page uses.

Protocol (``/live/ws``): the client sends a JSON hello ``{"type": "hello",
"sample_rate": 48000, "target_id": TOKEN, "chunk_ms": 20, "format": "f32"}``;
the server answers ``{"type": "ready", ...latency budget}`` or ``{"type":
"error"|"busy", "message": ...}`` and closes. Then binary frames of mono PCM
(little-endian float32 or int16) flow in both directions; the server sends
``{"type": "stats", ...}`` twice a second and accepts ``{"type":
"client_stats", "underruns": N, "buffer_ms": X}``. A client that sends no audio
for ``IDLE_TIMEOUT_S`` is closed (its page may still send stats and pings: a
microphone that stopped must not hold capacity), and so is one that stops
reading: a send it has not taken within ``SEND_TIMEOUT_S`` ends the session.
Targets are prepared from an uploaded reference by ``POST /live/reference``
(raw audio bytes), which returns the token and the engine that really runs.
Any message the server cannot use gets a JSON error before the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from lab.audio import Audio, AudioError
from lab.jsonable import to_jsonable
from lab.live_sessions import Admission, Busy, TargetStore, measure_load
from lab.models import ModelUnavailable
from lab.streaming import StreamError, StreamSession

log = logging.getLogger(__name__)

MAX_REFERENCE_BYTES = 20 * 1024 * 1024
CHUNK_MS_CHOICES = (10, 20, 40, 80)
FORMATS = {"f32": np.dtype("<f4"), "s16": np.dtype("<i2")}
HELLO_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 10.0
STATS_EVERY_S = 0.5
SEND_TIMEOUT_S = 5.0  # a client not taking our messages for this long has stopped reading (its buffers are full)
WARN_EVERY_S = 1.0  # a broken microphone sending NaN 50 times a second gets one message a second, not 50
# What a mid-stream hello may not change (a microphone switch resends it), with the first hello's defaults.
SESSION_KEYS = {"sample_rate": None, "chunk_ms": 20, "format": "f32", "target_id": None}


class ProtocolError(ValueError):
    """A client message that breaks the protocol; the message is sent back before closing."""


class ClientStalled(RuntimeError):
    """The client stopped taking what the server sends: nothing more can reach it."""


@dataclass
class LiveService:
    """Everything the live routes share: converter backend, admission control, prepared targets.

    Args:
        backend: an object with ``prepare_target(Audio, engine) -> Target`` and
            ``streamer(Target, engine, chunk_ms) -> StreamingConverter`` (the module lab.convert).
        default_engine: engine used when a client names none.
    """

    backend: Any
    default_engine: str = "world-knn"
    admission: Admission = field(default_factory=Admission)
    targets: TargetStore = field(default_factory=TargetStore)
    loads: dict[tuple[str, int], float] = field(default_factory=dict)
    compat_streams: dict[str, Any] = field(default_factory=dict)  # Gradio session hash -> its compatibility stream
    # One admission at a time: concurrent load measurements would slow each other and inflate the figure.
    admit_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    async def prepare_reference(self, data: bytes, engine: str) -> dict[str, Any]:
        """Clean (lab.reference) and prepare an uploaded reference; returns ``{"target_id", ...}``."""
        from lab import reference

        cleaned = await asyncio.to_thread(lambda: reference.prepare(reference.load(data), measure_quality=False))
        return await self._register(cleaned.audio, engine, warnings=cleaned.warnings)

    async def prepare_voice(self, name: str, engine: str) -> dict[str, Any]:
        """Prepare an enrolled voice of lab.voices by name; returns ``{"target_id", ...}``."""
        from lab import voices

        return await self._register(await asyncio.to_thread(lambda: voices.get_voice(name).audio()), engine)

    async def _register(self, speech: Audio, engine: str, warnings: list[str] | None = None) -> dict[str, Any]:
        target = await asyncio.to_thread(self.backend.prepare_target, speech, engine)
        token = self.targets.add(target.engine, target, speech.slice(0.0, 3.0))
        fallback = target.model.get("fallback_reason")  # names the engine asked for and the one that runs
        notes = [fallback] if fallback else []
        return {"target_id": token, "duration_s": round(speech.duration, 2), "engine": target.engine,
                "requested_engine": engine, "model": target.model, "warnings": notes + (warnings or [])}

    async def open_session(self, hello: dict[str, Any], idle_timeout_s: float | None = None,
                           on_reclaim: Any = None) -> tuple[StreamSession, Any, np.dtype]:
        """Validate a hello, build the converter and claim capacity.

        Args:
            hello: the client's hello message.
            idle_timeout_s, on_reclaim: see lab.live_sessions.Lease (for clients that cannot say goodbye).

        Raises:
            ProtocolError: malformed hello, unknown target, or an engine that cannot stream. Busy: no capacity left.
        """
        rate, chunk_ms, fmt = hello.get("sample_rate"), hello.get("chunk_ms", 20), hello.get("format", "f32")
        if type(rate) is not int or not 8000 <= rate <= 192000:
            raise ProtocolError(f"hello.sample_rate must be an integer 8000-192000 Hz, got {rate!r}.")
        if type(chunk_ms) is not int or chunk_ms not in CHUNK_MS_CHOICES:
            raise ProtocolError(f"hello.chunk_ms must be one of {CHUNK_MS_CHOICES}, got {chunk_ms!r}.")
        if not isinstance(fmt, str) or fmt not in FORMATS:
            raise ProtocolError(f"hello.format must be one of {sorted(FORMATS)}, got {fmt!r}.")
        try:
            engine, target, speech = self.targets.get(str(hello.get("target_id")))
        except KeyError:
            raise ProtocolError("Unknown target voice: upload a reference (or pick a voice) again.") from None
        try:
            converter = await asyncio.to_thread(self.backend.streamer, target, engine, chunk_ms)
        except ValueError as exc:  # e.g. an engine that converts whole files only
            raise ProtocolError(str(exc)) from exc
        lease = await asyncio.to_thread(self._measure_and_admit, engine, chunk_ms, target, speech, idle_timeout_s,
                                        on_reclaim)
        session = StreamSession(converter, client_rate=rate, chunk_samples=round(rate * chunk_ms / 1000))
        return session, lease, FORMATS[fmt]

    def _measure_and_admit(self, engine: str, chunk_ms: int, target: Any, speech: Audio,
                           idle_timeout_s: float | None, on_reclaim: Any) -> Any:
        """The load is measured on the client's own voice sample, and again whenever the server is idle, so one
        busy moment of the machine does not set the capacity for good; never two measurements at once."""
        key = (engine, chunk_ms)
        with self.admit_lock:
            self.admission.reclaim_idle()
            if key not in self.loads or self.admission.active == 0:
                probe = self.backend.streamer(target, engine, chunk_ms)
                self.loads[key] = measure_load(probe, speech.resample(probe.sample_rate).samples)
                log.info("live load of %s at %d ms: %.3f cores per session", engine, chunk_ms, self.loads[key])
            return self.admission.admit(self.loads[key], idle_timeout_s, on_reclaim)


async def _send_json(ws: WebSocket, payload: dict[str, Any]) -> None:
    await _taken(ws.send_text(json.dumps(payload, allow_nan=False, default=float)))


async def _taken(send: Any) -> None:
    """Await a send; ClientStalled when the client has not taken it within SEND_TIMEOUT_S."""
    try:
        await asyncio.wait_for(send, SEND_TIMEOUT_S)
    except TimeoutError:
        raise ClientStalled(f"The client took nothing for {SEND_TIMEOUT_S:g} s.") from None


async def _decode_frame(data: bytes, dtype: np.dtype, session: StreamSession) -> np.ndarray:
    if len(data) % dtype.itemsize:
        raise ProtocolError(f"A binary frame of {len(data)} bytes is not whole {dtype.itemsize}-byte samples.")
    if len(data) // dtype.itemsize > session.max_chunk_samples:
        raise ProtocolError(f"A frame of {len(data) // dtype.itemsize} samples is too large: at most "
                            f"{session.max_chunk_samples} samples (1 s) per frame.")
    x = np.frombuffer(data, dtype=dtype)
    return (x.astype(np.float32) / 32768.0) if dtype.kind == "i" else x.astype(np.float32)



def _parse(text: str | None) -> Any:
    """A text message as JSON; anything json cannot read (including huge numbers, deep nesting) is a ProtocolError."""
    try:
        return json.loads(text or "null")
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"A text message is not valid JSON: {str(exc)[:200] or type(exc).__name__}.") from None


async def _receive(ws: WebSocket, timeout_s: float, what: str, limit_s: float) -> dict[str, Any]:
    """The next ASGI message; ProtocolError naming ``limit_s`` when none arrives within ``timeout_s``."""
    try:
        return await asyncio.wait_for(ws.receive(), timeout_s)
    except TimeoutError:
        raise ProtocolError(f"{what} for {limit_s:g} s: the session was closed.") from None


async def serve_socket(ws: WebSocket, service: LiveService) -> None:
    """Run one live stream from hello to disconnect; always releases its capacity, never raises."""
    await ws.accept()
    lease = None
    try:
        try:
            message = await _receive(ws, HELLO_TIMEOUT_S, "No hello received", HELLO_TIMEOUT_S)
            if message["type"] == "websocket.disconnect":
                return
            hello = _parse(message.get("text"))
            if not isinstance(hello, dict) or hello.get("type") != "hello":
                raise ProtocolError('The first message must be a JSON hello: {"type": "hello", ...}.')
            session, lease, dtype = await service.open_session(hello)
        except Busy as exc:
            await _send_json(ws, {"type": "busy", "message": str(exc)})
            await ws.close(code=1013)
            return
        except (ProtocolError, AudioError, ModelUnavailable) as exc:
            await _send_json(ws, {"type": "error", "message": str(exc)})
            await ws.close(code=1008)
            return
        await _send_json(ws, {"type": "ready", **to_jsonable(session.report(session.initial_state()))})
        await _stream(ws, session, dtype, {k: hello.get(k, default) for k, default in SESSION_KEYS.items()})
    except WebSocketDisconnect:
        log.info("live client disconnected")
    except ClientStalled as exc:  # it cannot read a goodbye either: close without waiting for it
        log.info("live client stopped reading; session closed: %s", exc)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=1011), 1.0)
    except Exception:  # a bug must not leave the client without an answer (the server itself survives anyway)
        log.exception("live session failed")
        with contextlib.suppress(Exception):  # the socket may be gone already
            await _send_json(ws, {"type": "error", "message": "Internal error in the live session; it was closed.",
                                  "fatal": True})
            await ws.close(code=1011)
    finally:
        if lease is not None:
            lease.release()


async def _stream(ws: WebSocket, session: StreamSession, dtype: np.dtype, settings: dict[str, Any]) -> None:
    state = session.initial_state()
    last_audio = last_stats = time.monotonic()
    last_warning, replaced = -math.inf, 0
    while True:
        try:
            message = await _receive(ws, IDLE_TIMEOUT_S - (time.monotonic() - last_audio), "No audio received",
                                     IDLE_TIMEOUT_S)
        except ProtocolError as exc:
            await _send_json(ws, {"type": "error", "message": f"{exc} Press Start to go on.", "fatal": True})
            await ws.close(code=1000)
            return
        if message["type"] == "websocket.disconnect":
            return
        try:
            if message.get("bytes") is not None:
                x = await _decode_frame(message["bytes"], dtype, session)
                last_audio = time.monotonic()
                try:
                    y, state = await asyncio.to_thread(session.step, x, state)
                except StreamError as exc:  # e.g. NaN: drop the frame, keep the stream and its timeline
                    y, replaced = np.zeros(len(x), np.float32), replaced + 1
                    state.replaced_frames += 1
                    if time.monotonic() - last_warning >= WARN_EVERY_S:
                        note = f"{replaced} frame(s) replaced by silence since the last message; the last one: {exc}"
                        await _send_json(ws, {"type": "error", "message": note})
                        last_warning, replaced = time.monotonic(), 0
                if len(y):
                    await _taken(ws.send_bytes((y * 32767).astype("<i2").tobytes() if dtype.kind == "i"
                                               else y.astype("<f4").tobytes()))
            else:
                reply = _handle_text(_parse(message.get("text")), settings, state)
                if reply:
                    await _send_json(ws, reply)
        except ProtocolError as exc:
            await _send_json(ws, {"type": "error", "message": str(exc), "fatal": True})
            await ws.close(code=1008)
            return
        if time.monotonic() - last_stats >= STATS_EVERY_S:
            last_stats = time.monotonic()
            await _send_json(ws, {"type": "stats", **to_jsonable(session.report(state))})


def _handle_text(msg: Any, settings: dict[str, Any], state: Any) -> dict[str, Any] | None:
    if not isinstance(msg, dict):
        raise ProtocolError("Text messages must be JSON objects.")
    if msg.get("type") == "hello":
        if "sample_rate" in msg and msg["sample_rate"] != settings["sample_rate"]:
            raise ProtocolError(f"The sample rate changed mid-stream ({settings['sample_rate']} Hz -> "
                                f"{msg['sample_rate']!r} Hz). Stop and start again to use the new rate.")
        changed = [k for k in SESSION_KEYS if k in msg and msg[k] != settings[k]]
        if changed:
            raise ProtocolError(f"A hello mid-stream changed {', '.join(changed)}. Stop and start again to change it.")
    elif msg.get("type") == "client_stats":
        underruns = msg.get("underruns")
        if type(underruns) is int and underruns >= 0:
            state.client_underruns = underruns
    elif msg.get("type") == "ping":
        t = msg.get("t")
        usable = (type(t) is float and math.isfinite(t)) or (type(t) is int and abs(t) <= 2**53)
        return {"type": "pong", "t": t if usable else None}
    else:
        raise ProtocolError(f"Unknown message type {msg.get('type')!r}.")
    return None


def add_api_routes(app: FastAPI, service: LiveService) -> None:
    """Register ``POST /live/reference``, ``POST /live/voice`` and ``WS /live/ws`` on ``app``."""

    @app.post("/live/reference")
    async def upload_reference(request: Request, engine: str | None = None) -> JSONResponse:
        too_big = JSONResponse({"error": f"The reference is larger than the {MAX_REFERENCE_BYTES / 2**20:.0f} MB "
                                         "limit; upload a shorter recording."}, status_code=413)
        if int(request.headers.get("content-length") or 0) > MAX_REFERENCE_BYTES:
            return too_big
        data = bytearray()
        async for part in request.stream():  # counted as it arrives: a missing or false length cannot get past
            data += part
            if len(data) > MAX_REFERENCE_BYTES:
                return too_big
        try:
            return JSONResponse(await service.prepare_reference(bytes(data), engine or service.default_engine))
        except (AudioError, ValueError, ModelUnavailable) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    @app.post("/live/voice")
    async def use_voice(name: str, engine: str | None = None) -> JSONResponse:
        from lab.voices import VoiceError

        try:
            return JSONResponse(await service.prepare_voice(name, engine or service.default_engine))
        except (VoiceError, AudioError, ValueError, ModelUnavailable) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    @app.websocket("/live/ws")
    async def live_socket(ws: WebSocket) -> None:
        await serve_socket(ws, service)
