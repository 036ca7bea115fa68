"""lab.live_sessions: the admission controller refuses what does not fit, and gives back what it took."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lab.audio import Audio
from lab.live_sessions import Admission, Busy, TargetStore, measure_load
from tests.toy_converters import OlaToyConverter


@pytest.mark.parametrize(("budget", "load", "admitted"), [
    (1.4, 0.3, 4),   # 4 x 0.3 = 1.2 fits, a fifth would need 1.5
    (1.4, 0.7, 2),
    (1.4, 2.0, 1),   # heavier than the budget: admitted alone, never two
    (2.0, 0.5, 4),
])
def test_admits_sessions_while_their_load_fits(budget, load, admitted):
    admission = Admission(budget=budget, max_sessions=0)
    leases = [admission.admit(load) for _ in range(admitted)]
    with pytest.raises(Busy, match="busy"):
        admission.admit(load)
    assert admission.active == admitted
    for lease in leases:
        lease.release()
        lease.release()  # idempotent: a double release cannot free someone else's share
    assert admission.active == 0 and admission.used == 0


def test_session_cap_applies_regardless_of_load():
    admission = Admission(budget=100.0, max_sessions=3)
    leases = [admission.admit(0.01) for _ in range(3)]
    with pytest.raises(Busy):
        admission.admit(0.01)
    leases[0].release()
    admission.admit(0.01)


def test_an_idle_lease_is_reclaimed_before_the_next_admission():
    admission = Admission(budget=100.0, max_sessions=1)
    ended = []
    quiet = admission.admit(0.1, idle_timeout_s=0.05, on_reclaim=lambda: ended.append("quiet"))
    held = Admission(budget=100.0, max_sessions=1)
    forever = held.admit(0.1)  # no timeout: held until released
    time.sleep(0.1)
    admission.admit(0.1)  # would be busy if the quiet session still held its slot
    assert quiet.released and ended == ["quiet"] and admission.active == 1
    with pytest.raises(Busy):
        held.admit(0.1)
    assert not forever.released


def test_touching_a_lease_keeps_it():
    admission = Admission(budget=100.0, max_sessions=1)
    lease = admission.admit(0.1, idle_timeout_s=0.15)
    for _ in range(4):
        time.sleep(0.05)
        lease.touch()
    with pytest.raises(Busy):
        admission.admit(0.1)
    assert not lease.released


def test_measured_load_reflects_compute_per_hop():
    light = measure_load(OlaToyConverter(hop_samples=320), np.zeros(16000, np.float32), hops=10)
    heavy = measure_load(OlaToyConverter(hop_samples=320, sleep_s=0.010), np.zeros(16000, np.float32), hops=10)
    assert heavy >= 0.5  # 10 ms of work per 20 ms hop: at least half a core (more when the machine is busy)
    assert heavy > light + 0.4


class BurstyConverter(OlaToyConverter):
    """Light work, but steps 10-14 wait 40 ms each (another process took the core for a moment)."""

    def __init__(self) -> None:
        super().__init__(hop_samples=320)
        self.steps = 0

    def step(self, chunk, state):
        self.steps += 1
        if 10 <= self.steps < 15:
            time.sleep(0.040)
        return super().step(chunk, state)


def test_a_burst_of_other_work_during_the_measurement_does_not_set_the_load():
    # One round's p95 is 2 cores (five 40 ms steps of 20 ms hops); the other two rounds are light.
    assert measure_load(BurstyConverter(), np.zeros(16000, np.float32)) < 0.5


def test_target_store_evicts_the_oldest_and_rejects_unknown_tokens():
    store = TargetStore(capacity=2)
    speech = Audio(np.zeros(16000, np.float32), 16000)
    first, second, third = (store.add("toy", {"n": i}, speech) for i in range(3))
    assert store.get(third)[1] == {"n": 2} and store.get(second)[1] == {"n": 1}
    with pytest.raises(KeyError):
        store.get(first)
    with pytest.raises(KeyError):
        store.get("../../etc/passwd")
    assert len({first, second, third}) == 3 and all(len(t) >= 20 for t in (first, second, third))
