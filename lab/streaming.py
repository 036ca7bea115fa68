"""Chunked (live) voice conversion with explicit state and honest latency accounting.

A converter from :func:`lab.convert.streamer` consumes exactly ``hop_samples`` per
step at its own rate. Microphones deliver chunks of any size at any rate, so a
:class:`StreamSession` re-blocks (and, if needed, resamples) what arrives, runs
the converter hop by hop, and records what a user feels: the algorithmic latency
(hop + lookahead + buffering) and the compute time of every hop. All state lives
in the returned :class:`StreamState` (encodec style: ``step(x, state) -> (y,
state)``), never in module globals, so one session object can serve many streams.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from lab.audio import Audio
from lab.stream_resample import LowDelayResampler


class StreamingConverter(Protocol):
    """What :func:`lab.convert.streamer` returns (defined there; restated for typing)."""

    sample_rate: int
    hop_samples: int
    lookahead_samples: int

    def initial_state(self) -> Any: ...

    def step(self, chunk: np.ndarray, state: Any) -> tuple[np.ndarray, Any]: ...


class StreamError(ValueError):
    """A chunk that cannot be streamed (NaN, wrong shape, oversized); the message says why."""


@dataclass(frozen=True)
class LatencyBudget:
    """Algorithmic latency of a session in milliseconds: what no amount of CPU removes.

    ``algorithmic_ms == hop_ms + lookahead_ms + buffering_ms``. Buffering is the
    worst-case wait of a sample in the re-blocking buffer when client chunks and
    converter hops differ in size, plus the resamplers' delay.
    """

    hop_ms: float
    lookahead_ms: float
    buffering_ms: float

    @property
    def algorithmic_ms(self) -> float:
        """hop + lookahead + buffering (ms)."""
        return self.hop_ms + self.lookahead_ms + self.buffering_ms

    def as_dict(self) -> dict[str, float]:
        """The four figures as a JSON-ready dict."""
        return {"hop_ms": self.hop_ms, "lookahead_ms": self.lookahead_ms, "buffering_ms": self.buffering_ms,
                "algorithmic_ms": self.algorithmic_ms}


@dataclass
class StreamState:
    """Everything one live stream carries between chunks."""

    pending: np.ndarray  # converter-rate input waiting for a full hop, shape (< hop,)
    converter_state: Any
    resample_in: LowDelayResampler | None
    resample_out: LowDelayResampler | None
    compute_s: list[float] = field(default_factory=list)  # wall time of each converter hop
    cpu_s: list[float] = field(default_factory=list)  # CPU time of this thread in each hop (contention excluded)
    samples_in: int = 0  # client-rate samples received
    samples_out: int = 0  # client-rate samples returned
    underruns: int = 0  # hops whose compute took longer than the hop lasts
    client_underruns: int = 0  # playback starvations reported by the client
    replaced_frames: int = 0  # client frames the server replaced by silence (NaN or infinite samples)


class StreamSession:
    """Re-blocks arbitrary chunks at ``client_rate`` onto a converter's fixed hop.

    Args:
        converter: a StreamingConverter (exactly ``hop_samples`` in and out per step).
        client_rate: rate of the chunks given to :meth:`step` (Hz); defaults to the converter's.
        chunk_samples: typical client chunk length at ``client_rate`` (for the latency budget).
        max_chunk_seconds: longer chunks are rejected (a live client never sends minutes at once).
    """

    def __init__(self, converter: StreamingConverter, client_rate: int | None = None,
                 chunk_samples: int | None = None, max_chunk_seconds: float = 1.0) -> None:
        self.converter = converter
        self.client_rate = int(client_rate or converter.sample_rate)
        self.chunk_samples = int(chunk_samples or self.to_client_samples(converter.hop_samples))
        self.max_chunk_samples = int(max_chunk_seconds * self.client_rate)
        self.hop_seconds = converter.hop_samples / converter.sample_rate

    def to_client_samples(self, converter_samples: int) -> int:
        """A length in converter-rate samples expressed in client-rate samples."""
        return round(converter_samples * self.client_rate / self.converter.sample_rate)

    @property
    def resampling(self) -> bool:
        """True when the client's rate differs from the converter's."""
        return self.client_rate != self.converter.sample_rate

    def latency(self) -> LatencyBudget:
        """The session's algorithmic latency budget (see :class:`LatencyBudget`)."""
        conv = self.converter
        chunk_in_conv = round(self.chunk_samples * conv.sample_rate / self.client_rate)
        wait = chunk_in_conv - math.gcd(chunk_in_conv, conv.hop_samples)  # worst residue of chunk vs hop grids
        buffering_ms = 1000 * wait / conv.sample_rate
        if self.resampling:
            buffering_ms += resampler_delay_ms(self.client_rate, conv.sample_rate, self.chunk_samples)
            buffering_ms += resampler_delay_ms(conv.sample_rate, self.client_rate, conv.hop_samples)
        lookahead_ms = 1000 * conv.lookahead_samples / conv.sample_rate
        return LatencyBudget(hop_ms=1000 * self.hop_seconds, lookahead_ms=lookahead_ms, buffering_ms=buffering_ms)

    def initial_state(self) -> StreamState:
        """A fresh stream: empty buffer, the converter's initial state, new resamplers."""
        conv = self.converter
        return StreamState(
            pending=np.zeros(0, np.float32), converter_state=conv.initial_state(),
            resample_in=LowDelayResampler(self.client_rate, conv.sample_rate) if self.resampling else None,
            resample_out=LowDelayResampler(conv.sample_rate, self.client_rate) if self.resampling else None,
        )

    def step(self, chunk: np.ndarray, state: StreamState) -> tuple[np.ndarray, StreamState]:
        """Convert one client chunk; returns whatever output is ready (any length, maybe 0).

        Args:
            chunk: float32 samples at ``client_rate``, shape (N,), N <= max_chunk_samples.
            state: from :meth:`initial_state` or the previous step.

        Returns:
            (output float32 (M,) at ``client_rate``, new state). Output lags input by
            the lookahead; over a long stream M averages N.

        Raises:
            StreamError: wrong shape/dtype, NaN or Inf, or an oversized chunk.
        """
        x = self._validated(chunk)
        state.samples_in += len(x)
        if state.resample_in is not None:
            x = state.resample_in.resample_chunk(x)
        buf = np.concatenate([state.pending, x]) if len(state.pending) else x
        hop = self.converter.hop_samples
        outs = []
        for start in range(0, len(buf) - hop + 1, hop):
            t0, c0 = time.perf_counter(), time.thread_time()
            y, state.converter_state = self.converter.step(buf[start : start + hop], state.converter_state)
            elapsed = time.perf_counter() - t0
            state.compute_s.append(elapsed)
            state.cpu_s.append(time.thread_time() - c0)
            state.underruns += elapsed > self.hop_seconds
            outs.append(np.asarray(y, dtype=np.float32))
        state.pending = buf[len(outs) * hop :].copy()
        out = np.concatenate(outs) if outs else np.zeros(0, np.float32)
        if state.resample_out is not None:
            out = state.resample_out.resample_chunk(out)
        state.samples_out += len(out)
        return out, state

    def _validated(self, chunk: np.ndarray) -> np.ndarray:
        x = np.asarray(chunk)
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
            raise StreamError(f"Audio chunks must be 1-D float samples, got shape {x.shape} dtype {x.dtype}.")
        if len(x) > self.max_chunk_samples:
            raise StreamError(f"A chunk of {len(x)} samples is too long: send at most "
                              f"{self.max_chunk_samples} samples ({self.max_chunk_samples / self.client_rate:.1f} s).")
        if not np.all(np.isfinite(x)):
            raise StreamError(f"The chunk contains {int(np.count_nonzero(~np.isfinite(x)))} NaN or infinite samples.")
        return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)

    def report(self, state: StreamState) -> dict[str, Any]:
        """Latency and load figures of a stream so far (JSON-ready; ms and ratios)."""
        compute, cpu = np.asarray(state.compute_s) * 1000, np.asarray(state.cpu_s) * 1000
        audio_s = len(compute) * self.hop_seconds
        return {
            **self.latency().as_dict(),
            "converter_rate": self.converter.sample_rate, "client_rate": self.client_rate,
            "chunk_ms": 1000 * self.chunk_samples / self.client_rate,
            "hops": len(compute),
            "compute_p50_ms": _percentile(compute, 50), "compute_p95_ms": _percentile(compute, 95),
            "compute_max_ms": _percentile(compute, 100),
            "cpu_p50_ms": _percentile(cpu, 50), "cpu_p95_ms": _percentile(cpu, 95),
            "rtf": float(compute.sum() / 1000 / audio_s) if audio_s else math.nan,
            "cpu_rtf": float(cpu.sum() / 1000 / audio_s) if audio_s else math.nan,
            "underruns": state.underruns, "client_underruns": state.client_underruns,
            "replaced_frames": state.replaced_frames,
        }


def _percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else math.nan


@lru_cache(maxsize=16)
def resampler_delay_ms(from_rate: int, to_rate: int, chunk_samples: int) -> float:
    """Measured time the streaming resampler withholds (ms) when fed ``chunk_samples`` at a time."""
    stream = LowDelayResampler(from_rate, to_rate)
    rng = np.random.default_rng(0)
    n_chunks = max(20, from_rate // chunk_samples)
    produced = sum(len(stream.resample_chunk(rng.standard_normal(chunk_samples).astype(np.float32)))
                   for _ in range(n_chunks))
    return max(0.0, 1000 * (n_chunks * chunk_samples / from_rate - produced / to_rate))


def stream_audio(session: StreamSession, source: Audio) -> tuple[Audio, StreamState]:
    """Stream a whole file through ``session`` in client-sized chunks, then drain the lookahead.

    Args:
        session: its ``client_rate`` must equal ``source.sample_rate``.
        source: the input speech.

    Returns:
        (output aligned with ``source``: the lookahead delay removed, same length; final state).
    """
    if source.sample_rate != session.client_rate:
        raise ValueError(f"source is {source.sample_rate} Hz but the session expects {session.client_rate} Hz")
    state = session.initial_state()
    n = session.chunk_samples
    delay = session.to_client_samples(session.converter.lookahead_samples)
    tail = np.zeros(delay + 2 * session.to_client_samples(session.converter.hop_samples) + session.client_rate // 10,
                    np.float32)
    x = np.concatenate([source.samples, tail])
    outs = []
    for start in range(0, len(x), n):
        y, state = session.step(x[start : start + n], state)
        outs.append(y)
    y = np.concatenate(outs)[delay : delay + len(source.samples)]
    y = np.pad(y, (0, len(source.samples) - len(y)))
    return Audio(np.ascontiguousarray(y, dtype=np.float32), source.sample_rate), state


def simulate(source: Audio, target: Audio, engine: str, chunk_ms: int) -> dict[str, Any]:
    """Stream a file through a converter chunk by chunk, as a live microphone would deliver it.

    Args:
        source: speech to convert (any rate; chunks are cut at this rate).
        target: reference audio of the target voice.
        engine: converter name (see :mod:`lab.convert`).
        chunk_ms: client chunk length and converter hop request (ms).

    Returns:
        The :meth:`StreamSession.report` figures plus ``engine`` (the one that ran),
        ``requested_engine``, ``model`` (provenance), ``prepare_s`` (target preparation
        seconds) and ``audio`` (the streamed output :class:`Audio`, not JSON).
    """
    from lab import convert

    convert.require_streaming(engine)  # before the reference is analysed (seconds for some engines)
    t0 = time.perf_counter()
    prepared = convert.prepare_target(target, engine=engine)
    prepare_s = time.perf_counter() - t0
    converter = convert.streamer(prepared, engine=engine, chunk_ms=chunk_ms)
    session = StreamSession(converter, client_rate=source.sample_rate,
                            chunk_samples=round(source.sample_rate * chunk_ms / 1000))
    out, state = stream_audio(session, source)
    return {"engine": prepared.engine, "requested_engine": engine, "model": prepared.model, "prepare_s": prepare_s,
            **session.report(state), "audio": out}
