"""The embedded any-to-any voice converter: WORLD + speaker-normalised k-NN envelopes.

No trained weights: the target voice is learned from a few seconds of its
audio. Stages (named as the API): ``analyse`` (WORLD frames in fixed blocks) ->
``match`` (k nearest target frames on speaker-normalised mel-cepstra with
context, same voicing class, against the nearest of the source's own earlier
frames: a paired offset added to the source envelope) -> ``convert_frames``
(temporally smoothed; log-F0 median/spread mapped to the target) -> ``render``
(pulse-by-pulse synthesis).

Offline conversion *is* the streaming step run over the file with a large hop:
every stage depends only on absolute frame positions, so a stream in chunks of
any size reproduces the offline output delayed by ``lookahead_samples``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from lab.audio import Audio
from lab.engines import world_analysis as wa
from lab.engines import world_matching as wm
from lab.engines.world_synthesis import SynthState, Track, noise_table, render
from lab.models import ModelSpec

OFFLINE_CHUNK_MS = 100
# Temporal smoothing of the envelope changes and shares over frames t-3 .. t+1: mostly past frames, so it
# smooths the frame-to-frame jumps between target frames without more lookahead than one frame.
MATCH_SMOOTHING = (0.1, 0.2, 0.3, 0.25, 0.15)


@dataclass(frozen=True)
class Settings:
    """Conversion strength knobs.

    Defaults: screened on the fixtures and on held-out voices (see world_matching's docstring for the
    measured variants); more matched share buys identity at the cost of words. ``match_dims`` 12 is the
    usual MFCC order, not a fitted value.

    Attributes:
        k: target frames averaged per match.
        source_k: the source's own earlier frames averaged per match (the other side of the paired offset).
        offset_prior_frames: frames of a class the source must have spoken before its local offsets weigh as
            much as the class-mean EQ (early in a stream few source frames are there to pair with). Small, so
            that the strength of the conversion does not grow with the length of the input: with 200 it kept
            rising through a 4 s utterance, and more trust (50) bought identity at a cost in words (dev set
            +0.187 / +18.7 points); the share below sets that trade-off instead, the same for any length.
        match_weight: share of the paired-offset envelope of a voiced frame, the rest the class-EQ'd source
            envelope (0 = EQ only).
        unvoiced_match_weight: the same for unvoiced frames.
        eq_weight: how much of the class-mean envelope difference is applied to the source part.
        map_variance: also scale the source envelope's per-bin deviations by the target/source std ratio
            (off: it cost words on held-out voices without adding identity).
        aperiodicity_weight: share of the matched target frames' aperiodicity (breathiness).
        match_dims: mel-cepstral coefficients (c1..c<n>) per frame compared when matching: the low
            quefrencies carry the phone, the higher ones mostly the speaker and the harmonics.
        warp_per_octave: frequency warp of the source envelope per octave of mean-F0 difference.
        max_warp: the warp factor is kept within [1 / max_warp, max_warp].
    """

    k: int = 4
    source_k: int = 8
    offset_prior_frames: float = 20.0
    match_weight: float = 0.7
    unvoiced_match_weight: float = 0.7
    eq_weight: float = 1.0
    map_variance: bool = False
    aperiodicity_weight: float = 0.5
    match_dims: int = 12
    warp_per_octave: float = 0.45
    max_warp: float = 1.25


@dataclass
class StreamState:
    """Explicit state of one conversion stream (frame indices are absolute; see module docstring)."""

    samples: np.ndarray
    samples_start: int
    received: int = 0
    next_block: int = 0
    frames: wa.Frames = field(default_factory=wa.Frames.empty)
    frames_first: int = 0
    z: np.ndarray = field(default_factory=lambda: np.zeros((0, wa.CODED_DIMS - 1)))
    mapped: np.ndarray = field(default_factory=lambda: np.zeros((0, wa.BINS)))
    f0_out: np.ndarray = field(default_factory=lambda: np.zeros(0))
    matched: np.ndarray = field(default_factory=lambda: np.zeros((0, wa.BINS)))  # log-envelope change per frame
    matched_ap: np.ndarray = field(default_factory=lambda: np.zeros((0, wa.BINS)))
    matched_weight: np.ndarray = field(default_factory=lambda: np.zeros(0))
    matched_first: int = 0
    track: Track = field(default_factory=lambda: Track(0, np.zeros(0), np.zeros((0, wa.BINS)), np.zeros((0, wa.BINS))))
    moments: dict[str, wm.Moments] = field(default_factory=dict)
    history: dict[str, wm.SourceHistory] = field(default_factory=dict)
    synth: SynthState = field(default_factory=SynthState)


class WorldKnnStreamer:
    """StreamingConverter of world-knn for one target voice (see lab.convert.StreamingConverter)."""

    sample_rate = wa.SAMPLE_RATE
    # Output up to sample n needs the converted frame after n (pulse interpolation), that needs the
    # next matched frame (smoothing), that needs CONTEXT more analysed frames; a frame is analysed
    # with its block, ANALYSIS_LOOKAHEAD samples after the block's last frame.
    lookahead_samples = (1 + wm.CONTEXT + wa.BLOCK_FRAMES - 1) * wa.FRAME + wa.ANALYSIS_LOOKAHEAD

    def __init__(self, voice: wm.TargetVoice, settings: Settings, chunk_ms: int, noise: np.ndarray,
                 source_tags: np.ndarray | None = None):
        """``source_tags``: (frames, T) extra matching features of every source frame, known in advance (offline
        only: e.g. phone labels), matched against the same T trailing columns of the voice's keys."""
        if chunk_ms <= 0 or chunk_ms * wa.SAMPLE_RATE % (1000 * wa.FRAME):
            raise ValueError(f"chunk_ms must be a positive multiple of {wa.FRAME_MS:g} ms, got {chunk_ms}.")
        tags = 0 if source_tags is None else source_tags.shape[1]
        if tags != wm.tag_dims(voice):
            raise ValueError(f"The source has {tags} tag columns, the target voice {wm.tag_dims(voice)}; prepare "
                             "both with the same engine.")
        self.voice, self.settings, self.noise, self.source_tags = voice, settings, noise, source_tags
        self.hop_samples = chunk_ms * wa.SAMPLE_RATE // 1000
        self.keys = {c: _first_dims(k, settings.match_dims) for c, k in voice.keys.items()}
        self.key_norms = {c: (k**2).sum(axis=1) for c, k in self.keys.items()}

    def initial_state(self) -> StreamState:
        """A fresh stream; source statistics start from the target's (weight PRIOR_FRAMES)."""
        v = self.voice
        moments = {f"cep_{c}": wm.Moments.prior(v.cep_mean[c], v.cep_std[c], wm.PRIOR_FRAMES) for c in wm.CLASSES}
        moments.update({f"env_{c}": wm.Moments.prior(v.env_mean[c], v.env_std[c], wm.PRIOR_FRAMES)
                        for c in wm.CLASSES})
        moments["logf0"] = wm.Moments.prior(np.array([v.logf0_mean]), np.array([v.logf0_std]), wm.PRIOR_FRAMES)
        dims = (2 * wm.CONTEXT + 1) * self.settings.match_dims + wm.tag_dims(v)
        history = {c: wm.SourceHistory.empty(dims, wa.BINS) for c in wm.CLASSES}
        return StreamState(np.zeros(0), 0, moments=moments, history=history,
                           synth=SynthState(position=-self.lookahead_samples))

    def step(self, chunk: np.ndarray, state: StreamState) -> tuple[np.ndarray, StreamState]:
        """Consume ``hop_samples`` input samples, return ``hop_samples`` output samples (float32).

        The output is the converted input delayed by ``lookahead_samples``. ``state`` is consumed.
        """
        if chunk.shape != (self.hop_samples,):
            raise ValueError(f"step() takes exactly {self.hop_samples} samples, got shape {chunk.shape}.")
        state.samples = np.concatenate([state.samples, np.asarray(chunk, dtype=np.float64)])
        state.received += self.hop_samples
        self._analyse(state)
        self._match(state)
        self._convert(state)
        out, state.synth = render(state.track, self.hop_samples, state.synth, self.noise)
        self._prune(state)
        return out, state

    def _analyse(self, s: StreamState) -> None:
        new = []
        while wa.samples_needed(s.next_block) <= s.received:
            start = wa.block_window_start(s.next_block) - s.samples_start
            window = s.samples[max(start, 0) : start + wa.WINDOW]
            new.append(wa.analyse_block(np.pad(window, (wa.WINDOW - len(window), 0))))
            s.next_block += 1
        if not new:
            return
        frames = wa.Frames.concat(new)
        masks = wm.class_masks(frames)
        logf0 = np.log(np.where(frames.voiced, frames.f0, 1.0))[:, None]
        mean, std, s.moments["logf0"] = s.moments["logf0"].update(logf0, masks["voiced"])
        mapped = np.exp(self.voice.logf0_mean + (logf0 - mean) * self.voice.logf0_std / std)[:, 0]
        # An outlier (a pitch-tracker octave error, a source far outside its usual range) must not leave the
        # range of voices: far below it a pulse period outgrows the synthesis frame.
        mapped = np.clip(mapped, wa.F0_FLOOR, wa.F0_CEIL)
        ratio = np.exp(self.settings.warp_per_octave * (self.voice.logf0_mean - mean[:, 0]))
        ratio = np.clip(ratio, 1 / self.settings.max_warp, self.settings.max_warp)
        warped = wa.warp_envelope(frames.log_sp, ratio)
        cep = wa.code(warped)[:, 1:]
        z, source_part = np.zeros_like(cep), np.zeros((len(frames), wa.BINS))
        st = self.settings
        for c in wm.CLASSES:
            cep_mean, cep_std, s.moments[f"cep_{c}"] = s.moments[f"cep_{c}"].update(cep, masks[c])
            env_mean, env_std, s.moments[f"env_{c}"] = s.moments[f"env_{c}"].update(warped, masks[c])
            rows = frames.voiced if c == "voiced" else ~frames.voiced
            z[rows] = ((cep - cep_mean) / cep_std)[rows]
            scale = np.clip(self.voice.env_std[c] / env_std, 0.5, 2.0) if st.map_variance else 1.0
            shifted = env_mean + st.eq_weight * (self.voice.env_mean[c] - env_mean)
            source_part[rows] = (shifted + (warped - env_mean) * scale)[rows]
        frames = wa.Frames(frames.f0, warped, frames.ap, frames.coded)
        s.frames = wa.Frames.concat([s.frames, frames])
        s.z, s.mapped = np.concatenate([s.z, z]), np.concatenate([s.mapped, source_part])
        s.f0_out = np.concatenate([s.f0_out, np.where(frames.voiced, mapped, 0.0)])

    def _match(self, s: StreamState) -> None:
        first, last = s.matched_first + len(s.matched), s.frames_first + len(s.frames) - wm.CONTEXT
        if last <= first:
            return
        rows = np.arange(first, last)
        ctx = np.clip(rows[:, None] + np.arange(-wm.CONTEXT, wm.CONTEXT + 1)[None, :], 0, None) - s.frames_first
        st = self.settings
        queries = s.z[ctx][:, :, : st.match_dims].reshape(len(rows), -1).astype(np.float32)
        if self.source_tags is not None:  # rows past the tagged source (the padding that flushes a file) get none
            tags = np.zeros((len(rows), self.source_tags.shape[1]), np.float32)
            known = rows < len(self.source_tags)
            tags[known] = self.source_tags[rows[known]]
            queries = np.concatenate([queries, tags], axis=1)
        i = rows - s.frames_first
        voiced, source_env, eq_only = s.frames.voiced[i], s.frames.log_sp[i], s.mapped[i]
        matched, matched_ap = np.zeros((len(rows), wa.BINS)), np.zeros((len(rows), wa.BINS))
        for name, mask in (("voiced", voiced), ("unvoiced", ~voiced)):
            c = name if len(self.voice.keys[name]) else "voiced"
            if not mask.any():
                continue
            idx = wm.nearest(queries[mask], self.keys[c], st.k, self.key_norms[c])
            own, seen = s.history[name].add_and_match(queries[mask], source_env[mask], st.source_k)
            # How the target says this sound differently from how the source says it, added to the source's
            # own envelope: the source's detail (the words) stays, the voice moves. Trusted as the source's
            # history of the class grows; until then the class-mean EQ stands in. Kept as the change to the
            # source envelope, so that smoothing (in _convert) blurs the change but not the source's detail.
            trust = (seen / (seen + st.offset_prior_frames))[:, None]
            offset = self.voice.envelopes[c][idx].mean(axis=1) - own
            matched[mask] = trust * offset + (1 - trust) * (eq_only[mask] - source_env[mask])
            matched_ap[mask] = self.voice.aperiodicity[c][idx].mean(axis=1)
        s.matched = np.concatenate([s.matched, matched])
        s.matched_ap = np.concatenate([s.matched_ap, matched_ap])
        s.matched_weight = np.concatenate([s.matched_weight, np.where(voiced, st.match_weight,
                                                                      st.unvoiced_match_weight)])

    def _convert(self, s: StreamState) -> None:
        first, last = s.track.first + len(s.track.f0), s.matched_first + len(s.matched) - 1
        if last <= first:
            return
        rows = np.arange(first, last)
        at = [np.clip(rows + offset, 0, None) - s.matched_first for offset in range(2 - len(MATCH_SMOOTHING), 2)]
        smooth = lambda a: sum(tap * a[i] for tap, i in zip(MATCH_SMOOTHING, at, strict=True))  # noqa: E731
        i = rows - s.frames_first
        smoothed, w = s.frames.log_sp[i] + smooth(s.matched), smooth(s.matched_weight)[:, None]
        w_ap = self.settings.aperiodicity_weight
        out = w * smoothed + (1 - w) * s.mapped[i]
        level = np.log(np.mean(np.exp(out), axis=1) + wa.LOG_FLOOR)
        out += (s.frames.log_energy[i] - level)[:, None]
        t = s.track
        ap = w_ap * s.matched_ap[rows - s.matched_first] + (1 - w_ap) * s.frames.ap[i]
        s.track = Track(t.first, np.concatenate([t.f0, s.f0_out[i]]), np.concatenate([t.log_sp, out]),
                        np.concatenate([t.ap, ap]))

    @staticmethod
    def _prune(s: StreamState) -> None:
        keep_from = wa.block_window_start(s.next_block) - s.samples_start
        if keep_from > 0:
            s.samples, s.samples_start = s.samples[keep_from:], s.samples_start + keep_from
        track_keep = max(s.synth.position // wa.FRAME - 1 - s.track.first, 0)
        t = s.track
        s.track = Track(t.first + track_keep, t.f0[track_keep:], t.log_sp[track_keep:], t.ap[track_keep:])
        matched_keep = max(s.track.first + len(s.track.f0) - (len(MATCH_SMOOTHING) - 2) - s.matched_first, 0)
        s.matched, s.matched_ap = s.matched[matched_keep:], s.matched_ap[matched_keep:]
        s.matched_weight = s.matched_weight[matched_keep:]
        s.matched_first += matched_keep
        frames_keep = max(min(s.matched_first + len(s.matched) - wm.CONTEXT, s.track.first + len(s.track.f0))
                          - s.frames_first, 0)
        if frames_keep:
            f = s.frames
            s.frames = wa.Frames(f.f0[frames_keep:], f.log_sp[frames_keep:], f.ap[frames_keep:],
                                 f.coded[frames_keep:])
            s.z, s.mapped, s.f0_out = s.z[frames_keep:], s.mapped[frames_keep:], s.f0_out[frames_keep:]
            s.frames_first += frames_keep


@dataclass
class WorldKnnEngine:
    """The world-knn converter: analyse a target once, convert files or streams toward it."""

    settings: Settings = field(default_factory=Settings)
    noise: np.ndarray = field(default_factory=noise_table)
    sample_rate: int = wa.SAMPLE_RATE
    offline_only: bool = False

    def prepare_target(self, reference: Audio) -> wm.TargetVoice:
        """Analyse a reference recording of the target voice (any rate; resampled to 16 kHz).

        Raises:
            AudioError: less than 1 s of speech in the reference.
        """
        samples = reference.resample(wa.SAMPLE_RATE).samples.astype(np.float64)
        return wm.build_target(wa.analyse_signal(samples))

    def streamer(self, voice: wm.TargetVoice, chunk_ms: int = 20) -> WorldKnnStreamer:
        """A streaming converter toward ``voice`` consuming ``chunk_ms`` ms per step."""
        return WorldKnnStreamer(voice, self.settings, chunk_ms, self.noise)

    def convert(self, source: Audio, voice: wm.TargetVoice) -> tuple[Audio, dict[str, Any]]:
        """Convert a whole recording: the streaming step over the file, delay removed.

        Returns:
            16 kHz Audio of the source's length, and extra facts (settings, timings).
        """
        start = time.perf_counter()
        out, extra = self._run(source, self.streamer(voice, OFFLINE_CHUNK_MS))
        extra.update(target_speech_seconds=voice.speech_seconds, convert_seconds=time.perf_counter() - start)
        return out, extra

    def _run(self, source: Audio, stream: WorldKnnStreamer) -> tuple[Audio, dict[str, Any]]:
        """Stream the whole of ``source`` through ``stream`` and cut the output to the source's span."""
        x = source.resample(wa.SAMPLE_RATE).samples
        hop, delay = stream.hop_samples, stream.lookahead_samples
        n_steps = -(-(len(x) + delay) // hop)
        padded = np.zeros(n_steps * hop, dtype=np.float32)
        padded[: len(x)] = x
        state, outputs = stream.initial_state(), []
        for i in range(n_steps):
            out, state = stream.step(padded[i * hop : (i + 1) * hop], state)
            outputs.append(out)
        y = np.concatenate(outputs)[delay : delay + len(x)]
        extra = {"settings": {f.name: getattr(self.settings, f.name) for f in fields(self.settings)}}
        return Audio(np.clip(y, -1.0, 1.0).astype(np.float32), wa.SAMPLE_RATE), extra

    def with_settings(self, **changes: Any) -> WorldKnnEngine:
        """A copy with some Settings changed (for experiments and benchmarks)."""
        return replace(self, settings=replace(self.settings, **changes))


def _first_dims(stacked: np.ndarray, dims: int) -> np.ndarray:
    """Keep the first ``dims`` coefficients of every context frame of stacked keys (N, frames * D [+ tags]);
    trailing tag columns are kept whole."""
    context = (2 * wm.CONTEXT + 1) * (wa.CODED_DIMS - 1)
    per_frame = stacked[:, :context].reshape(len(stacked), 2 * wm.CONTEXT + 1, -1)
    return np.ascontiguousarray(np.concatenate([per_frame[:, :, :dims].reshape(len(stacked), -1),
                                                stacked[:, context:]], axis=1))


def load(path: Path | None, spec: ModelSpec) -> WorldKnnEngine:
    """Registry loader: the built-in converter has no weights, ``path`` is unused."""
    return WorldKnnEngine()
