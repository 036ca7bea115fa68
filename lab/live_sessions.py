"""Server-side bookkeeping for live conversion: admission control and prepared targets.

A 2-core server can convert only so many streams in real time. Rather than let
every stream fall behind when one too many joins, :class:`Admission` keeps a
real-time budget and charges each session its measured load
(p95 compute per hop / hop duration); a session that does not fit is refused
with a message that says so. A lease may declare an idle timeout: one not
touched for that long is reclaimed before the next admission (a client that
went away without saying so cannot hold capacity). :class:`TargetStore` keeps targets prepared from
uploaded references, keyed by an unguessable token, with a bounded size.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.audio import Audio
from lab.streaming import StreamingConverter

log = logging.getLogger(__name__)

HEADROOM = 0.7  # fraction of a core a live server may promise; the rest absorbs jitter and the UI
# Sessions run as threads of one interpreter, and a converter hop is many small numpy/pyworld calls that
# hold the GIL most of the time: the process converts on about one core however many the machine has.
DEFAULT_BUDGET = 1.0 * HEADROOM


class Busy(RuntimeError):
    """No real-time capacity is left; the message is shown to the user as is."""


def measure_load(converter: StreamingConverter, speech: np.ndarray, hops: int = 30, rounds: int = 3) -> float:
    """Real-time load of one stream: p95 compute per hop divided by the hop duration.

    The p95 of each of ``rounds`` runs of ``hops`` hops, then their median: a burst of other work on the machine
    during one run (a second of another process, a garbage collection) must not set the capacity for good. Eight
    measurements of world-knn at 20 ms while other work ran: one run of 30 hops gave 0.11-0.33 cores, the median of
    three runs 0.12-0.20.

    Args:
        converter: a fresh converter (its own state is used and thrown away).
        speech: float32 (T,) at the converter's rate, representative input (looped if short).
        hops: how many hops to time per round (after 3 warm-up hops).
        rounds: runs whose p95 values are combined by their median.

    Returns:
        Load in cores (0.25 = a quarter of one core while streaming).
    """
    hop = converter.hop_samples
    need = (rounds * hops + 3) * hop
    x = np.resize(speech.astype(np.float32), need) if len(speech) else np.zeros(need, np.float32)
    state = converter.initial_state()
    times = []
    for i in range(rounds * hops + 3):
        t0 = time.perf_counter()
        _, state = converter.step(x[i * hop : (i + 1) * hop], state)
        if i >= 3:
            times.append(time.perf_counter() - t0)
    p95 = np.percentile(np.reshape(times, (rounds, hops)), 95, axis=1)
    return float(np.median(p95) / (hop / converter.sample_rate))


@dataclass
class Lease:
    """One admitted session's claim on the budget; release it exactly once.

    Attributes:
        load: cores claimed.
        admission: the controller it was claimed from.
        idle_timeout_s: reclaimed when not touched for this long (None: held until released).
        on_reclaim: called after a reclaim, to end the session that lost its capacity.
        touched: time.monotonic() of the last sign of life.
    """

    load: float
    admission: Admission
    idle_timeout_s: float | None = None
    on_reclaim: Callable[[], None] | None = None
    touched: float = field(default_factory=time.monotonic)
    released: bool = False

    def touch(self) -> None:
        """The session is alive (it sent audio)."""
        self.touched = time.monotonic()

    def release(self) -> None:
        """Give the load back (idempotent)."""
        if not self.released:
            self.released = True
            self.admission._give_back(self)


class Admission:
    """Admits live sessions while their summed load fits the real-time budget.

    Args:
        budget: cores' worth of compute to promise; default env ``VOICELAB_LIVE_BUDGET`` or
            ``DEFAULT_BUDGET`` (one core x headroom: see the GIL note above).
        max_sessions: hard cap on concurrent sessions regardless of load (env
            ``VOICELAB_LIVE_MAX_SESSIONS`` when not given; 0 = no cap).
    """

    def __init__(self, budget: float | None = None, max_sessions: int | None = None) -> None:
        self.budget = budget if budget is not None else float(os.environ.get("VOICELAB_LIVE_BUDGET", DEFAULT_BUDGET))
        env_cap = os.environ.get("VOICELAB_LIVE_MAX_SESSIONS", "0")
        self.max_sessions = max_sessions if max_sessions is not None else int(env_cap)
        self._lock = threading.Lock()
        self._leases: list[Lease] = []

    @property
    def active(self) -> int:
        """Number of admitted sessions not yet released."""
        with self._lock:
            return len(self._leases)

    @property
    def used(self) -> float:
        """Sum of the admitted sessions' loads (cores)."""
        with self._lock:
            return sum(lease.load for lease in self._leases)

    def admit(self, load: float, idle_timeout_s: float | None = None,
              on_reclaim: Callable[[], None] | None = None) -> Lease:
        """Claim ``load`` cores for a new session, after reclaiming idle leases (see :class:`Lease`).

        Raises:
            Busy: the session would exceed the budget or the session cap.
        """
        self.reclaim_idle()
        with self._lock:
            used = sum(lease.load for lease in self._leases)
            full_by_cap = self.max_sessions and len(self._leases) >= self.max_sessions
            # A session heavier than the whole budget is still admitted when the server is idle:
            # the user then sees its underruns, not a refusal that can never succeed.
            if full_by_cap or (self._leases and used + load > self.budget):
                raise Busy(f"The server is busy: {len(self._leases)} live session(s) are using its real-time "
                           f"capacity ({used:.2f} of {self.budget:.2f} cores). Try again in a minute, or use the "
                           "file conversion on the Clone tab.")
            lease = Lease(load=load, admission=self, idle_timeout_s=idle_timeout_s, on_reclaim=on_reclaim)
            self._leases.append(lease)
            return lease

    def reclaim_idle(self) -> int:
        """Release the leases idle beyond their timeout and end their sessions; returns how many."""
        now = time.monotonic()
        with self._lock:
            idle = [lease for lease in self._leases
                    if lease.idle_timeout_s is not None and now - lease.touched > lease.idle_timeout_s]
        for lease in idle:
            log.info("reclaimed a live session idle for %.1f s", now - lease.touched)
            lease.release()
            if lease.on_reclaim is not None:
                lease.on_reclaim()
        return len(idle)

    def _give_back(self, lease: Lease) -> None:
        with self._lock:
            self._leases.remove(lease)


class TargetStore:
    """Prepared targets keyed by random tokens; the oldest is evicted beyond ``capacity``."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[str, Any, Audio]] = OrderedDict()

    def add(self, engine: str, target: Any, speech: Audio) -> str:
        """Store a prepared ``target`` for ``engine`` with a speech sample (for load measurement).

        Returns:
            The token a client passes in its hello message.
        """
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._items[token] = (engine, target, speech)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return token

    def get(self, token: str) -> tuple[str, Any, Audio]:
        """(engine, target, speech sample) for a token.

        Raises:
            KeyError: unknown or evicted token.
        """
        with self._lock:
            item = self._items[token]
            self._items.move_to_end(token)
            return item
