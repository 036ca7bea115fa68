"""webui.live_compat: Gradio-streaming handlers convert into one continuous stream and free their capacity."""

from __future__ import annotations

import io
import time

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from lab.live_sessions import Admission
from tests.toy_converters import toy_backend
from webui import live_compat
from webui.live_ws import LiveService


@pytest.fixture
def service() -> LiveService:
    return LiveService(backend=toy_backend(), default_engine="toy", admission=Admission(budget=100.0, max_sessions=1))


@pytest.fixture(scope="module")
def reference(speech_set) -> str:
    return str(speech_set[0].path)


def mic_chunk(rate: int = 48000, ms: int = 100, seed: int = 0) -> tuple[int, np.ndarray]:
    """What gr.Audio(streaming=True, type="numpy") hands over: (rate, int16 samples)."""
    rng = np.random.default_rng(seed)
    return rate, (rng.standard_normal(rate * ms // 1000) * 3000).astype(np.int16)


def test_chunks_become_one_continuous_output_stream_and_stop_frees_the_session(service, reference):
    for i in range(10):
        info = live_compat.convert_chunk(service, mic_chunk(seed=i), reference, None, "session-a")
    assert "algorithmic" in info and service.admission.active == 1
    player = live_compat.play(service, "session-a")
    first = next(player)  # everything converted so far, as one WAV piece of the stream
    samples, rate = sf.read(io.BytesIO(first), dtype="float32")
    assert rate == 48000 and len(samples) >= 48000 * 0.8  # 1 s in, minus lookahead and resampler hold-back
    live_compat.convert_chunk(service, mic_chunk(seed=99), reference, None, "session-a")
    assert len(sf.read(io.BytesIO(next(player)))[0]) > 0  # the same stream goes on
    assert live_compat.close(service, "session-a") == "Stopped."
    assert list(player) == [] and service.admission.active == 0 and not service.compat_streams


def test_a_page_that_vanishes_mid_stream_frees_its_session(service, reference, monkeypatch):
    monkeypatch.setattr(live_compat, "IDLE_CLOSE_S", 0.3)
    live_compat.convert_chunk(service, mic_chunk(), reference, None, "session-a")
    assert len(list(live_compat.play(service, "session-a"))) >= 1  # ends by itself: no slices, no stop press
    assert service.admission.active == 0 and not service.compat_streams


def test_a_second_browser_is_told_the_server_is_busy(service, reference):
    live_compat.convert_chunk(service, mic_chunk(), reference, None, "session-a")
    with pytest.raises(gr.Error, match="busy"):
        live_compat.convert_chunk(service, mic_chunk(), reference, None, "session-b")
    live_compat.close(service, "session-a")
    live_compat.convert_chunk(service, mic_chunk(), reference, None, "session-b")
    live_compat.close(service, "session-b")
    assert service.admission.active == 0


@pytest.mark.parametrize(("first", "then", "message"), [
    (None, None, "Pick an enrolled voice or upload"),
    (mic_chunk(48000), mic_chunk(44100), "rate changed mid-stream"),
])
def test_bad_streams_get_a_clear_message(service, reference, first, then, message):
    with pytest.raises(gr.Error, match=message):
        if first is None:
            live_compat.convert_chunk(service, mic_chunk(), None, None, "session-a")
        else:
            live_compat.convert_chunk(service, first, reference, None, "session-a")
            live_compat.convert_chunk(service, then, reference, None, "session-a")
    live_compat.close(service, "session-a")
    assert service.admission.active == 0


def test_a_slice_that_fails_on_a_new_stream_gives_its_capacity_back(service, reference):
    with pytest.raises(gr.Error, match="too long"):
        live_compat.convert_chunk(service, mic_chunk(ms=5900), reference, None, "session-a")
    assert service.admission.active == 0 and not service.compat_streams


def test_a_stream_nobody_plays_lapses_when_another_needs_the_capacity(service, reference, monkeypatch):
    monkeypatch.setattr(live_compat, "IDLE_CLOSE_S", 0.2)
    live_compat.convert_chunk(service, mic_chunk(), reference, None, "api-client")  # no player, no stop
    with pytest.raises(gr.Error, match="busy"):
        live_compat.convert_chunk(service, mic_chunk(), reference, None, "session-b")
    time.sleep(0.3)
    live_compat.convert_chunk(service, mic_chunk(), reference, None, "session-b")
    assert list(service.compat_streams) == ["session-b"] and service.admission.active == 1
    live_compat.close(service, "session-b")


def test_silent_microphone_is_fine(service, reference):
    silent = (48000, np.zeros(4800, np.int16))
    for _ in range(5):
        live_compat.convert_chunk(service, silent, reference, None, "session-a")
    stream = service.compat_streams["session-a"]
    out = np.concatenate([stream.outbox.get_nowait() for _ in range(stream.outbox.qsize())])
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) < 1e-6
    live_compat.close(service, "session-a")


def test_slices_nobody_plays_close_the_stream_with_the_reason(service, reference, monkeypatch):
    monkeypatch.setattr(live_compat, "MAX_UNPLAYED_SLICES", 5)
    for i in range(5):  # an API client that never started the player (or whose player ended after a pause)
        live_compat.convert_chunk(service, mic_chunk(seed=i), reference, None, "session-a")
    with pytest.raises(gr.Error, match="Nobody is playing the converted audio"):
        live_compat.convert_chunk(service, mic_chunk(seed=9), reference, None, "session-a")
    assert service.admission.active == 0 and not service.compat_streams  # nothing held, nothing piling up
