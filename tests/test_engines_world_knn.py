"""The embedded world-knn converter: analysis, matching, synthesis and streaming/offline identity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lab import convert
from lab.audio import Audio, AudioError
from lab.engines import world_analysis as wa
from lab.engines import world_matching as wm
from lab.engines.world_knn import WorldKnnEngine

RATE = wa.SAMPLE_RATE


def harmonic_tone(f0: float, seconds: float = 0.5, harmonics: int = 10) -> np.ndarray:
    """A periodic test signal with a falling spectrum."""
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, harmonics + 1) if f0 * h < RATE / 2) * 0.1


@pytest.mark.parametrize("f0", [85.0, 120.0, 180.0, 260.0, 400.0])
def test_pitch_of_a_periodic_signal_is_its_f0(f0: float) -> None:
    x = harmonic_tone(f0)
    centres = np.arange(2000, 6000, 400)
    assert np.allclose(wa.pitch_f0(x, centres), f0, rtol=0.01)


def alternating_pulses(f0: float, every_other: float, seconds: float = 0.5) -> np.ndarray:
    """Pulses at ``f0`` whose every other pulse is ``every_other`` as loud (shimmer, creak), through a resonance."""
    pulses = np.zeros(int(seconds * RATE))
    for i, position in enumerate(np.arange(0, len(pulses) - 1, RATE / f0)):
        pulses[round(position)] = 1.0 if i % 2 == 0 else every_other
    resonance = np.exp(-np.arange(200) / 30.0) * np.sin(2 * np.pi * 700 * np.arange(200) / RATE)
    return np.convolve(pulses, resonance)[: len(pulses)] * 0.1


@pytest.mark.parametrize("every_other", [0.9, 0.8, 0.7])
def test_pitch_is_the_pulse_rate_when_alternate_pulses_are_weaker(every_other: float) -> None:
    # Twice the period correlates a little better here; a tracker without a subharmonic check says 100 Hz.
    x = alternating_pulses(200.0, every_other)
    assert np.allclose(wa.pitch_f0(x, np.arange(2000, 6000, 400)), 200.0, rtol=0.01)


@pytest.mark.parametrize("signal", [
    np.zeros(8000),
    np.random.default_rng(1).standard_normal(8000) * 0.1,  # white noise: loud but aperiodic
])
def test_pitch_of_silence_and_noise_is_unvoiced(signal: np.ndarray) -> None:
    assert np.all(wa.pitch_f0(signal, np.arange(2000, 6000, 400)) == 0)


def test_analysis_gives_one_frame_per_5_ms() -> None:
    frames = wa.analyse_signal(harmonic_tone(150.0, 0.503))
    assert len(frames) == -(-int(0.503 * RATE) // wa.FRAME)
    assert frames.log_sp.shape == (len(frames), wa.BINS) and frames.coded.shape == (len(frames), wa.CODED_DIMS)
    assert np.median(frames.f0[10:-10]) == pytest.approx(150.0, rel=0.01)


def test_frequency_warp_moves_a_spectral_peak() -> None:
    env = np.full((1, wa.BINS), -5.0)
    env[0, 100] = 0.0
    assert np.argmax(wa.warp_envelope(env, np.array([1.0]))) == 100
    assert np.argmax(wa.warp_envelope(env, np.array([1.2]))) == 120


@pytest.fixture(scope="module")
def engine() -> WorldKnnEngine:
    return WorldKnnEngine()


@pytest.fixture(scope="module")
def voice(engine: WorldKnnEngine, speech_by_speaker):
    return engine.prepare_target(speech_by_speaker["slt"][0].audio)


@pytest.mark.parametrize("chunk_ms", [10, 20, 40, 80])
def test_stream_in_any_chunk_size_is_the_offline_output_delayed(engine, voice, speech_by_speaker,
                                                                chunk_ms: int) -> None:
    source = speech_by_speaker["rms"][1].audio.slice(0.0, 1.5)
    offline, _ = engine.convert(source, voice)
    stream = engine.streamer(voice, chunk_ms)
    assert stream.hop_samples == chunk_ms * RATE // 1000
    x = np.concatenate([source.samples, np.zeros(stream.lookahead_samples + stream.hop_samples, np.float32)])
    state, outputs = stream.initial_state(), []
    for i in range(len(x) // stream.hop_samples):
        out, state = stream.step(x[i * stream.hop_samples : (i + 1) * stream.hop_samples], state)
        assert out.shape == (stream.hop_samples,) and out.dtype == np.float32
        outputs.append(out)
    streamed = np.concatenate(outputs)[stream.lookahead_samples : stream.lookahead_samples + len(source.samples)]
    assert np.max(np.abs(streamed - offline.samples)) < 1e-5
    assert np.all(np.concatenate(outputs)[: stream.lookahead_samples] == 0)  # nothing before the delay


def test_algorithmic_latency_fits_the_live_budget(engine, voice) -> None:
    stream = engine.streamer(voice, 20)
    assert (stream.hop_samples + stream.lookahead_samples) / RATE <= 0.060


def test_two_streams_with_their_own_states_do_not_interfere(engine, voice, speech_by_speaker) -> None:
    stream = engine.streamer(voice, 20)
    a, b = speech_by_speaker["rms"][1].audio.samples[:6400], speech_by_speaker["joe"][0].audio.samples[:6400]
    alone = []
    state = stream.initial_state()
    for i in range(20):
        out, state = stream.step(a[i * 320 : (i + 1) * 320], state)
        alone.append(out)
    state_a, state_b, mixed = stream.initial_state(), stream.initial_state(), []
    for i in range(20):
        out, state_a = stream.step(a[i * 320 : (i + 1) * 320], state_a)
        _, state_b = stream.step(b[i * 320 : (i + 1) * 320], state_b)
        mixed.append(out)
    assert np.array_equal(np.concatenate(alone), np.concatenate(mixed))


@pytest.mark.parametrize("chunk_ms", [0, -20, 7])
def test_chunk_sizes_off_the_frame_grid_are_refused(engine, voice, chunk_ms: int) -> None:
    with pytest.raises(ValueError, match="chunk_ms"):
        engine.streamer(voice, chunk_ms)


def test_step_refuses_a_chunk_of_the_wrong_length(engine, voice) -> None:
    stream = engine.streamer(voice, 20)
    with pytest.raises(ValueError, match="exactly 320"):
        stream.step(np.zeros(160, np.float32), stream.initial_state())


@pytest.mark.parametrize(("make", "message"), [
    (lambda s: np.zeros(3 * RATE, np.float32), "silent"),
    (lambda s: s[: int(0.6 * RATE)], "only"),  # 0.6 s of audio
    (lambda s: np.random.default_rng(2).standard_normal(3 * RATE).astype(np.float32) * 0.1, "speech"),  # noise
])
def test_unusable_target_reference_is_refused_with_a_clear_message(speech_by_speaker, make, message: str) -> None:
    samples = make(speech_by_speaker["slt"][0].audio.samples)
    with pytest.raises(AudioError, match=message):
        convert.prepare_target(Audio(samples, RATE))


def test_output_keeps_the_source_length_and_level(engine, voice, speech_by_speaker) -> None:
    source = speech_by_speaker["awb"][0].audio
    out, extra = engine.convert(source, voice)
    assert out.sample_rate == RATE and len(out.samples) == len(source.samples)
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    assert 0.5 < rms(out.samples) / rms(source.samples) < 2.0
    assert extra["settings"]["k"] >= 1


def test_an_extreme_pitch_mapping_stays_within_the_range_of_voices(engine, voice, speech_by_speaker) -> None:
    # A target whose F0 statistics are wild (octave errors in its reference) maps some source frames far
    # outside any voice; unclamped, a pulse period outgrew the synthesis frame and the conversion crashed.
    wild = dataclasses.replace(voice, logf0_std=3.0)
    source = speech_by_speaker["awb"][0].audio
    streamer = engine.streamer(wild, chunk_ms=20)
    state = streamer.initial_state()
    hop = streamer.hop_samples
    samples = np.pad(source.resample(RATE).samples, (0, -len(source.samples) % hop))
    f0 = []
    for start in range(0, len(samples), hop):
        out, state = streamer.step(samples[start:start + hop], state)
        assert np.all(np.isfinite(out))
        f0.append(state.f0_out[state.f0_out > 0])
    f0 = np.concatenate(f0)
    assert f0.size and f0.min() >= wa.F0_FLOOR and f0.max() <= wa.F0_CEIL


@pytest.mark.parametrize(("query", "k", "expected_rows"), [
    ([0.0, 0.0], 1, {0}),
    ([1.0, 0.0], 2, {0, 1}),
    ([0.0, 3.0], 1, {2}),
    ([0.0, 3.0], 5, {0, 1, 2}),  # k larger than the keys: all of them
])
def test_nearest_gives_the_closest_keys(query, k, expected_rows) -> None:
    keys = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 4.0]], np.float32)
    idx = wm.nearest(np.array([query], np.float32), keys, k)
    assert set(idx[0].tolist()) == expected_rows
    with_norms = wm.nearest(np.array([query], np.float32), keys, k, (keys**2).sum(axis=1))
    assert set(with_norms[0].tolist()) == expected_rows


def _history_frames(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)).astype(np.float32), rng.normal(size=(n, 5)).astype(np.float32)


def test_source_history_averages_the_nearest_earlier_frames_and_the_query_itself() -> None:
    history = wm.SourceHistory.empty(2, 1)
    keys = np.array([[0.0, 0.0], [10.0, 0.0], [0.1, 0.0], [10.1, 0.0]], np.float32)
    envelopes = np.array([[1.0], [5.0], [3.0], [7.0]], np.float32)
    mean, seen = history.add_and_match(keys, envelopes, k=2)
    # The first frame has only itself; the third pairs with the first, the fourth with the second.
    assert mean[:, 0] == pytest.approx([1.0, 3.0, 2.0, 6.0])
    assert seen.tolist() == [1, 2, 3, 4]


def test_source_history_does_not_depend_on_the_chunking() -> None:
    keys, envelopes = _history_frames(60)
    whole, whole_seen = wm.SourceHistory.empty(3, 5, window=16).add_and_match(keys, envelopes, k=4)
    chunked = wm.SourceHistory.empty(3, 5, window=16)
    parts = [chunked.add_and_match(keys[a:b], envelopes[a:b], k=4) for a, b in ((0, 7), (7, 8), (8, 40), (40, 60))]
    assert np.concatenate([m for m, _ in parts]) == pytest.approx(whole, abs=1e-6)
    assert np.concatenate([s for _, s in parts]).tolist() == whole_seen.tolist()


def test_source_history_forgets_frames_older_than_its_window() -> None:
    history = wm.SourceHistory.empty(1, 1, window=3)
    for value in range(10):
        history.add_and_match(np.array([[float(value)]], np.float32), np.array([[float(value)]], np.float32), k=1)
    # Frame 0 would be the nearest to a query at 0.5, but the window of 3 holds only frames 8, 9 and the query.
    mean, seen = history.add_and_match(np.array([[0.5]], np.float32), np.array([[100.0]], np.float32), k=2)
    assert mean[0, 0] == pytest.approx((100.0 + 8.0) / 2)
    assert seen.tolist() == [3]
    assert history.count == 11
