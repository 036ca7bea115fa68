"""webui.live_ws: the WebSocket audio route under good and bad clients (toy converter, no models)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import uvicorn
import websockets
from fastapi import FastAPI
from starlette.testclient import TestClient

from lab.live_sessions import Admission
from tests.toy_converters import toy_backend
from webui import live
from webui.live_ws import LiveService


def _wav(samples: np.ndarray, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV")
    return buf.getvalue()


def make_app(max_sessions: int = 3, sleep_s: float = 0.0) -> tuple[FastAPI, LiveService]:
    service = LiveService(backend=toy_backend(sleep_s), default_engine="toy",
                          admission=Admission(budget=100.0, max_sessions=max_sessions))
    app = FastAPI()
    live.add_routes(app, service=service)
    return app, service


@pytest.fixture(scope="module")
def reference_bytes(speech_set) -> bytes:
    return speech_set[0].path.read_bytes()


@pytest.fixture
def client_and_target(reference_bytes):
    app, service = make_app()
    with TestClient(app) as client:
        res = client.post("/live/reference?engine=toy", content=reference_bytes)
        assert res.status_code == 200, res.text
        yield client, service, res.json()["target_id"]
    assert service.admission.active == 0


def hello(target_id: str, rate: int = 16000, **extra) -> str:
    return json.dumps({"type": "hello", "sample_rate": rate, "target_id": target_id, "chunk_ms": 20, **extra})


def receive_until(ws, kind: str, limit: int = 50) -> dict:
    for _ in range(limit):
        msg = ws.receive()
        if msg.get("text") and json.loads(msg["text"])["type"] == kind:
            return json.loads(msg["text"])
    raise AssertionError(f"no {kind!r} message")


@pytest.mark.parametrize(("rate", "frame"), [(16000, 320), (48000, 960), (44100, 441)])
def test_stream_returns_as_much_audio_as_it_receives(client_and_target, rate, frame):
    client, service, target = client_and_target
    with client.websocket_connect("/live/ws") as ws:
        ws.send_text(hello(target, rate))
        ready = json.loads(ws.receive_text())
        assert ready["type"] == "ready" and ready["algorithmic_ms"] >= 40
        assert service.admission.active == 1
        received, t = 0, np.arange(frame * 50) / rate
        tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype("<f4")
        for i in range(50):
            ws.send_bytes(tone[i * frame : (i + 1) * frame].tobytes())
        ws.send_text(json.dumps({"type": "ping", "t": 1}))  # answered after every frame before it
        while (msg := ws.receive()).get("text") is None or json.loads(msg["text"])["type"] != "pong":
            received += len(msg["bytes"]) // 4 if msg.get("bytes") else 0
        held_back = 50 * frame - received  # what the latency budget says may still be in flight
        assert 0 <= held_back <= ready["algorithmic_ms"] * rate / 1000 + frame, (held_back, ready)


@pytest.mark.parametrize(("payload", "message"), [
    (b"\x00\x00\x80\x7f" * 320, "NaN or infinite"),  # +Inf float32
    (np.full(320, np.nan, "<f4").tobytes(), "NaN"),
])
def test_nan_frames_are_reported_and_replaced_by_silence(client_and_target, payload, message):
    client, _, target = client_and_target
    with client.websocket_connect("/live/ws") as ws:
        ws.send_text(hello(target))
        ws.receive_text()
        ws.send_bytes(payload)
        error = json.loads(ws.receive_text())
        assert error["type"] == "error" and message in error["message"] and not error.get("fatal")
        ws.send_bytes(np.zeros(320, "<f4").tobytes())  # the stream goes on
        out = ws.receive_bytes()
        assert np.all(np.isfinite(np.frombuffer(out, "<f4")))


@pytest.mark.parametrize(("first", "then", "message"), [
    (None, json.dumps({"type": "hello", "sample_rate": 44100}), "sample rate changed"),
    (None, b"\x00" * (16001 * 4), "too large"),
    (None, b"\x00" * 7, "not whole"),
    (None, json.dumps({"type": "dance"}), "Unknown message type"),
    (json.dumps({"type": "hello", "sample_rate": 5}), None, "sample_rate must be"),
    (json.dumps({"type": "hello", "sample_rate": 16000, "target_id": "nope"}), None, "Unknown target"),
    (json.dumps({"type": "hello", "sample_rate": 16000, "chunk_ms": 33}), None, "chunk_ms must be"),
    (json.dumps({"type": "hello", "sample_rate": 16000, "chunk_ms": 20.0}), None, "chunk_ms must be"),
    (json.dumps({"type": "hello", "sample_rate": True}), None, "sample_rate must be"),
    (json.dumps({"type": "hello", "sample_rate": 16000, "format": ["f32"]}), None, "format must be"),
    (None, json.dumps({"type": "hello", "sample_rate": 16000, "chunk_ms": 40}), "changed chunk_ms"),
    (None, '{"type": "ping", "t": ' + "9" * 5000 + "}", "not valid JSON"),
    (None, "[" * 100000 + "]" * 100000, "not valid JSON"),
    ('{"type": "hello", "sample_rate": ' + "1" * 5000 + "}", None, "not valid JSON"),
    ("not json", None, "Expecting value"),
    (json.dumps([1, 2]), None, "first message must be a JSON hello"),
])
def test_protocol_violations_get_a_clear_message_and_free_the_session(client_and_target, first, then, message):
    client, service, target = client_and_target
    with client.websocket_connect("/live/ws") as ws:
        ws.send_text(first or hello(target))
        if then is not None:
            assert json.loads(ws.receive_text())["type"] == "ready"
            ws.send_text(then) if isinstance(then, str) else ws.send_bytes(then)
        error = json.loads(ws.receive_text())
        assert error["type"] == "error" and message in error["message"], error
    assert service.admission.active == 0


def test_a_stream_of_nan_frames_gets_one_message_a_second(client_and_target):
    client, _, target = client_and_target
    with client.websocket_connect("/live/ws") as ws:
        ws.send_text(hello(target))
        ws.receive_text()
        for _ in range(20):
            ws.send_bytes(np.full(320, np.nan, "<f4").tobytes())
        ws.send_text(json.dumps({"type": "ping", "t": 1}))  # answered after every frame before it
        texts = []
        while (msg := ws.receive()).get("text") is None or json.loads(msg["text"])["type"] != "pong":
            texts += [json.loads(msg["text"])] if msg.get("text") else []
        errors = [t for t in texts if t["type"] == "error"]
        assert len(errors) == 1 and "1 frame(s) replaced by silence since the last message" in errors[0]["message"]


def test_binary_before_the_hello_and_engines_that_cannot_stream_are_refused(client_and_target, monkeypatch):
    client, service, target = client_and_target
    with client.websocket_connect("/live/ws") as ws:
        ws.send_bytes(b"\x00" * 64)
        assert "first message must be a JSON hello" in json.loads(ws.receive_text())["message"]

    def whole_files_only(*_args):
        raise ValueError("speecht5-vc converts whole files only; use world-knn for live conversion.")

    monkeypatch.setattr(service.backend, "streamer", whole_files_only)
    with client.websocket_connect("/live/ws") as ws:
        ws.send_text(hello(target))
        reply = json.loads(ws.receive_text())
        assert reply["type"] == "error" and "whole files only" in reply["message"]


def test_non_finite_ping_times_are_not_echoed(client_and_target):
    client, _, target = client_and_target
    with client.websocket_connect("/live/ws") as ws:
        ws.send_text(hello(target))
        ws.receive_text()
        for t in ("NaN", "1" + "0" * 400, "true"):
            ws.send_text('{"type": "ping", "t": ' + t + "}")
            assert json.loads(ws.receive_text()) == {"type": "pong", "t": None}
        ws.send_text(json.dumps({"type": "hello", "target_id": target}))  # a resent hello may leave keys out
        ws.send_text(json.dumps({"type": "ping", "t": 2.5}))
        assert json.loads(ws.receive_text()) == {"type": "pong", "t": 2.5}


@pytest.mark.parametrize("chatter", [False, True])
def test_a_client_whose_audio_stops_is_closed_and_frees_its_capacity(client_and_target, monkeypatch, chatter):
    monkeypatch.setattr("webui.live_ws.IDLE_TIMEOUT_S", 0.4)
    client, service, target = client_and_target
    with client.websocket_connect("/live/ws") as ws:
        ws.send_text(hello(target))
        ws.receive_text()
        started = time.monotonic()
        assert service.admission.active == 1
        for _ in range(3 if chatter else 0):  # a page whose microphone died still sends stats and pings
            ws.send_text(json.dumps({"type": "ping", "t": 1}))
            ws.receive_text()
            time.sleep(0.1)
        while (msg := json.loads(ws.receive_text()))["type"] != "error":
            pass
        assert msg["fatal"] and "No audio received for 0.4 s" in msg["message"]
        assert time.monotonic() - started < 0.65, "the pings must not have kept the session alive"
    assert service.admission.active == 0


def test_a_client_that_stops_reading_is_closed_and_frees_its_capacity(client_and_target, monkeypatch):
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def never_taken(self, data):  # the client's buffers are full: a send waits for good
        await asyncio.Event().wait()

    monkeypatch.setattr("webui.live_ws.SEND_TIMEOUT_S", 0.3)
    monkeypatch.setattr(WebSocket, "send_bytes", never_taken)
    client, service, target = client_and_target
    with client.websocket_connect("/live/ws") as ws:
        ws.send_text(hello(target))
        ws.receive_text()
        assert service.admission.active == 1
        started = time.monotonic()
        ws.send_bytes(np.zeros(320, np.float32).tobytes())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1011 and time.monotonic() - started < 1.0
    assert service.admission.active == 0


def test_simultaneous_hellos_measure_the_load_once(reference_bytes, monkeypatch):
    measured = []

    def slow_measure(converter, speech):
        measured.append(threading.get_ident())
        time.sleep(0.2)
        return 0.1

    monkeypatch.setattr("webui.live_ws.measure_load", slow_measure)
    app, service = make_app(max_sessions=10)
    with TestClient(app) as client:
        target = client.post("/live/reference?engine=toy", content=reference_bytes).json()["target_id"]

    async def open_many() -> list:
        return await asyncio.gather(*(service.open_session(json.loads(hello(target))) for _ in range(5)))

    sessions = asyncio.run(open_many())
    assert len(measured) == 1 and service.admission.used == pytest.approx(0.5)
    for _, lease, _ in sessions:
        lease.release()


def test_a_fallback_engine_is_named_when_the_reference_is_prepared(reference_bytes, monkeypatch):
    app, service = make_app()
    prepare = service.backend.prepare_target

    def prepare_with_fallback(speech, engine):
        target = prepare(speech, "toy")
        target.model.update(requested=engine, fallback_reason=f"{engine} is unavailable (no weights); toy ran instead")
        return target

    monkeypatch.setattr(service.backend, "prepare_target", prepare_with_fallback)
    with TestClient(app) as client:
        body = client.post("/live/reference?engine=knn-vc-wavlm", content=reference_bytes).json()
    assert body["engine"] == "toy" and body["requested_engine"] == "knn-vc-wavlm"
    assert body["warnings"][0] == "knn-vc-wavlm is unavailable (no weights); toy ran instead"


def test_silent_microphone_streams_silence(client_and_target):
    client, _, target = client_and_target
    with client.websocket_connect("/live/ws") as ws:
        ws.send_text(hello(target, format="s16"))
        ws.receive_text()
        outs = []
        for _ in range(10):
            ws.send_bytes(np.zeros(320, "<i2").tobytes())
            outs.append(np.frombuffer(ws.receive_bytes(), "<i2"))
        assert np.max(np.abs(np.concatenate(outs))) == 0


@pytest.mark.parametrize(("data", "status", "message"), [
    (_wav(np.zeros(16000 * 5, np.float32)), 400, "silent"),
    (b"this is not audio" * 10, 400, "not an audio file"),
    (b"", 400, "empty"),
])
def test_bad_references_are_refused_with_the_reason(data, status, message):
    app, _ = make_app()
    with TestClient(app) as client:
        res = client.post("/live/reference?engine=toy", content=data)
    assert res.status_code == status and message in res.json()["error"], res.text


def test_oversized_reference_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr("webui.live_ws.MAX_REFERENCE_BYTES", 1000)
    app, _ = make_app()
    with TestClient(app) as client:
        chunked = client.post("/live/reference?engine=toy", content=iter([b"\0" * 600, b"\0" * 600]))
        declared = client.post("/live/reference?engine=toy", content=b"\0" * 2000)
    assert chunked.status_code == declared.status_code == 413 and "limit" in chunked.json()["error"]


def test_unknown_enrolled_voice_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICELAB_DATA", str(tmp_path))
    app, _ = make_app()
    with TestClient(app) as client:
        res = client.post("/live/voice?name=nobody&engine=toy")
        config = client.get("/live/config").json()
    assert res.status_code == 400 and "No enrolled voice named 'nobody'" in res.json()["error"]
    assert config["voices"] == []


def test_page_config_and_client_scripts_are_served():
    app, _ = make_app()
    with TestClient(app) as client:
        page = client.get("/live/page")
        assert page.status_code == 200 and "static/live.js" in page.text
        for script in ("live.js", "worklets.js"):
            assert client.get(f"/live/static/{script}").status_code == 200
        assert client.get("/live/static/../live_ws.py").status_code == 404
        config = client.get("/live/config").json()
        assert config["chunk_ms"] == [10, 20, 40, 80] and config["capacity"]["active_sessions"] == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server():
    app, service = make_app(max_sessions=3, sleep_s=0.002)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"127.0.0.1:{port}", service
    server.should_exit = True
    thread.join(timeout=10)


def test_ten_clients_at_once_capacity_served_rest_busy_nothing_leaks(live_server, reference_bytes):
    host, service = live_server
    import httpx

    target = httpx.post(f"http://{host}/live/reference?engine=toy", content=reference_bytes).json()["target_id"]

    async def one_client(i: int) -> str:
        async with websockets.connect(f"ws://{host}/live/ws") as ws:
            await ws.send(hello(target))
            reply = json.loads(await ws.recv())
            if reply["type"] == "ready":
                for _ in range(10):
                    await ws.send(np.zeros(320, "<f4").tobytes())
                await asyncio.sleep(0.3)  # hold the slot while the others try
                if i % 2:  # half leave mid-chunk: a partial hop still in the server's buffer
                    await ws.send(np.zeros(100, "<f4").tobytes())
            return reply["type"]

    async def all_clients() -> list[str]:
        return await asyncio.gather(*(one_client(i) for i in range(10)))

    kinds = asyncio.run(all_clients())
    assert sorted(kinds).count("ready") == 3 and kinds.count("busy") == 7, kinds
    deadline = time.monotonic() + 5
    while service.admission.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.admission.active == 0
