"""lab.streaming: re-blocking, exact parity with offline, no boundary clicks, honest latency figures."""

from __future__ import annotations

import numpy as np
import pytest

from lab.audio import Audio
from lab.streaming import StreamError, StreamSession, stream_audio
from tests.toy_converters import OlaToyConverter


def boundary_click_ratio(y: np.ndarray, period: int, rate: int) -> float:
    """Mean largest sample-to-sample jump within +-1 ms of chunk boundaries, over the same
    statistic at mid-chunk positions. About 1 for a seamless stream; clicks push it up."""
    jumps = np.abs(np.diff(y))
    half = max(1, rate // 1000)

    def peaks(offset: int) -> float:
        centres = range(period + offset, len(jumps) - period, period)
        return float(np.mean([jumps[c - half : c + half].max() for c in centres]))

    return peaks(0) / peaks(period // 2)


def naive_chunked(toy: OlaToyConverter, x: np.ndarray, chunk: int) -> np.ndarray:
    """What not to do: convert every chunk on its own and concatenate."""
    return np.concatenate([toy.offline(x[i : i + chunk]) for i in range(0, len(x), chunk)])


@pytest.fixture(scope="module")
def speech(speech_set) -> Audio:
    return speech_set[0].audio.resample(16000)


@pytest.mark.parametrize("client_chunk", [320, 160, 500, 1000, 77])
def test_streamed_output_equals_offline_for_any_client_chunk_size(speech, client_chunk):
    toy = OlaToyConverter(hop_samples=320)
    out, state = stream_audio(StreamSession(toy, chunk_samples=client_chunk), speech)
    assert len(out.samples) == len(speech.samples)
    np.testing.assert_allclose(out.samples, toy.offline(speech.samples), atol=1e-5)
    assert len(state.compute_s) >= len(speech.samples) // 320


def test_naive_chunking_clicks_at_boundaries_and_the_session_does_not(speech):
    toy = OlaToyConverter(hop_samples=320)
    naive = naive_chunked(toy, speech.samples, 320)
    ours, _ = stream_audio(StreamSession(toy, chunk_samples=320), speech)
    naive_ratio = boundary_click_ratio(naive, 320, 16000)
    ours_ratio = boundary_click_ratio(ours.samples, 320, 16000)
    assert naive_ratio > 2.0, naive_ratio  # the metric sees the naive clicks
    assert ours_ratio < 1.3, ours_ratio


def test_resampling_client_matches_offline_at_the_converter_rate(speech):
    toy = OlaToyConverter(hop_samples=320)
    client = speech.resample(48000)
    out, _ = stream_audio(StreamSession(toy, client_rate=48000, chunk_samples=960), client)
    expected = Audio(toy.offline(speech.samples), 16000).resample(48000).samples
    # soxr withholds but does not shift samples; the residual is resampler filtering only
    corr = np.corrcoef(out.samples[4800:-4800], expected[4800:-4800])[0, 1]
    assert corr > 0.99, corr


def _measured_latency_samples(session: StreamSession, n_input: int) -> int:
    """Largest (emission time - capture time) over output samples, feeding chunks in real time."""
    state, emitted, worst = session.initial_state(), 0, 0
    lookahead = session.converter.lookahead_samples
    for received in range(session.chunk_samples, n_input + 1, session.chunk_samples):
        y, state = session.step(np.zeros(session.chunk_samples, np.float32), state)
        for j in (emitted, emitted + len(y) - 1) if len(y) else ():
            if j >= lookahead:  # the first `lookahead` outputs precede the stream (converter warm-up)
                worst = max(worst, received - (j - lookahead))
        emitted += len(y)
    return worst


@pytest.mark.parametrize(("hop", "client_chunk", "expected_buffering"), [
    (320, 320, 0), (320, 160, 0), (160, 320, 160), (320, 480, 320), (320, 200, 160),
])
def test_algorithmic_latency_is_hop_plus_lookahead_plus_buffering_and_matches_a_real_feed(
        hop, client_chunk, expected_buffering):
    session = StreamSession(OlaToyConverter(hop_samples=hop), chunk_samples=client_chunk)
    budget = session.latency()
    assert budget.algorithmic_ms == pytest.approx(budget.hop_ms + budget.lookahead_ms + budget.buffering_ms)
    assert budget.buffering_ms == pytest.approx(expected_buffering / 16)
    assert budget.algorithmic_ms == pytest.approx(_measured_latency_samples(session, 16000) / 16)


def test_report_counts_compute_and_underruns():
    slow = OlaToyConverter(hop_samples=160, sleep_s=0.012)  # 12 ms of work per 10 ms hop
    session = StreamSession(slow)
    state = session.initial_state()
    for _ in range(10):
        _, state = session.step(np.zeros(160, np.float32), state)
    report = session.report(state)
    assert report["hops"] == 10 and report["underruns"] == 10
    assert report["compute_p50_ms"] >= 12 and report["rtf"] > 1.0
    assert report["algorithmic_ms"] == pytest.approx(20.0)


@pytest.mark.parametrize(("chunk", "message"), [
    (np.array([0.1, np.nan, 0.2], np.float32), "NaN"),
    (np.array([np.inf] * 4, np.float32), "NaN or infinite"),
    (np.zeros((2, 160), np.float32), "1-D"),
    (np.zeros(16001, np.float32), "too long"),
    (np.array([1, 2, 3], np.int16), "float"),
])
def test_bad_chunks_raise_a_clear_error_and_leave_the_state_usable(chunk, message):
    session = StreamSession(OlaToyConverter(hop_samples=160))
    state = session.initial_state()
    with pytest.raises(StreamError, match=message):
        session.step(chunk, state)
    out, _ = session.step(np.zeros(320, np.float32), state)
    assert len(out) == 320


def test_silence_streams_as_silence():
    session = StreamSession(OlaToyConverter(hop_samples=160))
    out, _ = stream_audio(session, Audio(np.zeros(16000, np.float32), 16000))
    assert np.all(np.isfinite(out.samples)) and np.max(np.abs(out.samples)) < 1e-6
