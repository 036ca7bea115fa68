"""The listening HTTP API: played-before-vote, idempotent votes, forged raters, owner tokens, escaping, blinding.

Runs the real routes in-process (FastAPI TestClient) on a temporary SQLite database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from eval.listening import builder, sources
from eval.listening.api import build_router
from eval.listening.database import Database, open_database
from lab import audio

SYSTEMS = {"SystemAlpha": 1.0, "SystemBeta": 0.5, "SystemGamma": 0.25}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, speech_set) -> Path:
    """An eval-run folder: 3 systems x 3 utterances of 1-second clips at different levels, with a metric."""
    run = tmp_path_factory.mktemp("run")
    rows = []
    for utt in speech_set[:3]:
        for system, gain in SYSTEMS.items():
            clip = audio.Audio((utt.audio.slice(0.5, 1.5).samples * gain).astype(np.float32), utt.audio.sample_rate)
            audio.save(clip, run / f"{utt.id}_{system}.wav")
            rows.append({"id": utt.id, "system": system, "audio": f"{utt.id}_{system}.wav", "stoi": gain})
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


@dataclass
class Env:
    """A fresh database with one A/B test, and a client of the listening routes."""

    client: TestClient
    db: Database
    created: builder.CreatedTest
    run_dir: Path

    def new_test(self, kind: str, **options) -> builder.CreatedTest:
        return builder.create_test(self.db, sources.from_run(self.run_dir), kind, "How natural?", seed=0, **options)


@pytest.fixture
def env(tmp_path: Path, run_dir: Path) -> Env:
    url = f"sqlite:///{tmp_path / 'listening.db'}"
    db = open_database(url)
    created = builder.create_test(db, sources.from_run(run_dir), "ab", "Which is better?", seed=0,
                                  source={"run": str(run_dir)})
    app = FastAPI()
    app.include_router(build_router(url))
    return Env(TestClient(app), db, created, run_dir)


class Rater:
    """A simulated rater talking to the API."""

    def __init__(self, client: TestClient, test_id: str) -> None:
        self.client, self.api = client, f"/listen/api/t/{test_id}"
        creds = client.post(self.api + "/raters").json()
        self.id, self.secret = creds["rater_id"], creds["secret"]
        self.headers = {"X-Rater-Id": self.id, "X-Rater-Secret": self.secret}

    def next(self) -> dict:
        return self.client.get(self.api + "/next", headers=self.headers).json()

    def play_all(self, item: dict) -> None:
        for slot in item["slots"]:
            assert self.client.post(self.api + "/played", headers=self.headers,
                                    json={"key": item["key"], "slot": slot}).status_code == 200

    def vote(self, key: str, headers: dict | None = None, **answer):
        return self.client.post(self.api + "/vote", headers=headers or self.headers, json={"key": key, **answer})


def test_vote_needs_every_clip_played_and_is_idempotent(env: Env) -> None:
    client, created = env.client, env.created
    rater = Rater(client, created.test_id)
    item = rater.next()["item"]
    assert rater.vote(item["key"], choice="A").status_code == 409  # nothing played
    client.post(rater.api + "/played", headers=rater.headers, json={"key": item["key"], "slot": "a"})
    assert rater.vote(item["key"], choice="A").status_code == 409  # B not played
    rater.play_all(item)
    first = rater.vote(item["key"], choice="A")
    assert first.status_code == 200 and first.json()["status"] == "saved"
    retry = rater.vote(item["key"], choice="A")
    assert retry.status_code == 200 and retry.json()["status"] == "unchanged"
    assert rater.vote(item["key"], choice="B").status_code == 409  # a change needs an explicit update
    updated = rater.vote(item["key"], choice="B", update=True)
    assert updated.json()["status"] == "updated"
    votes = json.loads(client.get(f"/listen/api/tests/{created.test_id}/export/votes.json",
                                  params={"token": created.owner_token}).text)
    assert len(votes) == 1 and votes[0]["choice_as_shown"] == "B" and votes[0]["revisions"] == 1


def test_forged_rater_and_foreign_items_are_rejected(env: Env) -> None:
    client, created = env.client, env.created
    alice, bob = Rater(client, created.test_id), Rater(client, created.test_id)
    item = alice.next()["item"]
    alice.play_all(item)
    assert alice.vote(item["key"], choice="A").status_code == 200
    forged = {"X-Rater-Id": alice.id, "X-Rater-Secret": bob.secret}
    assert alice.vote(item["key"], headers=forged, choice="B", update=True).status_code == 403
    assert alice.vote(item["key"], headers={"X-Rater-Id": alice.id}, choice="B", update=True).status_code == 403
    assert client.post(alice.api + "/played", headers=forged, json={"key": item["key"], "slot": "a"}).status_code == 403
    assert client.get(alice.api + "/next", headers=forged).status_code == 403
    # Bob, correctly authenticated, cannot touch Alice's item, nor invent item ids
    assert bob.vote(item["key"], choice="B", update=True).status_code == 404
    assert bob.vote("not-an-item-key", choice="B").status_code == 404
    stolen = {"key": item["key"], "slot": "a"}
    assert client.post(bob.api + "/played", headers=bob.headers, json=stolen).status_code == 404
    bob_item = bob.next()["item"]
    assert client.post(bob.api + "/played", headers=bob.headers,
                       json={"key": bob_item["key"], "slot": "zzz"}).status_code == 422
    votes = client.get(f"/listen/api/tests/{created.test_id}/export/votes.json",
                       headers={"Authorization": f"Bearer {created.owner_token}"}).json()
    assert [(v["rater"], v["choice_as_shown"]) for v in votes] == [(alice.id, "A")]


@pytest.mark.parametrize("answer", [{"choice": "C"}, {"choice": None}, {"score": 3}, {"choice": "a"}])
def test_invalid_answers_are_rejected(env: Env, answer: dict) -> None:
    client, created = env.client, env.created
    rater = Rater(client, created.test_id)
    item = rater.next()["item"]
    rater.play_all(item)
    assert rater.vote(item["key"], **answer).status_code == 422


def test_owner_routes_need_the_owner_token(env: Env) -> None:
    client, created = env.client, env.created
    other = env.new_test("mos")
    base = f"/listen/api/tests/{created.test_id}"
    for path in ("/results", "/export/votes.csv", "/export/analysis.json"):
        assert client.get(base + path).status_code == 401
        assert client.get(base + path, params={"token": "wrong"}).status_code == 403
        assert client.get(base + path, params={"token": other.owner_token}).status_code == 403
        assert client.get(base + path, headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert client.get(base + path, params={"token": created.owner_token}).status_code == 200
    assert client.get(f"/listen/r/{created.test_id}").status_code == 401
    assert client.get("/listen/api/tests/nonexistent-test/results", params={"token": "x"}).status_code == 403


def _vote_through(rater: Rater, answer_for: Callable[[dict], dict]) -> int:
    count = 0
    while (item := rater.next()["item"]) is not None:
        rater.play_all(item)
        assert rater.vote(item["key"], **answer_for(item)).status_code == 200
        count += 1
    return count


def test_rater_client_never_sees_system_names_and_identical_pairs_look_different(env: Env) -> None:
    client, created = env.client, env.created
    rater = Rater(client, created.test_id)
    page = client.get(f"/listen/t/{created.test_id}").text
    seen = [page]
    urls = []
    while (state := rater.next())["item"] is not None:
        seen.append(json.dumps(state))
        item = state["item"]
        urls.append((item["audio"]["a"], item["audio"]["b"]))
        assert client.get(item["audio"]["a"]).headers["content-type"] == "audio/wav"
        rater.play_all(item)
        rater.vote(item["key"], choice="tie")
    assert not any(name in text for name in SYSTEMS for text in seen)
    assert all(a != b for a, b in urls)  # the identical-pair check is not given away by its URLs
    assert len({u for pair in urls for u in pair}) == 2 * len(urls)
    assert client.get("/listen/api/audio/../../etc/passwd/a").status_code == 404


def test_comments_are_escaped_in_results_page_and_csv_export(env: Env) -> None:
    client, created = env.client, env.created
    rater = Rater(client, created.test_id)
    item = rater.next()["item"]
    rater.play_all(item)
    rater.vote(item["key"], choice="A", comment="<script>alert(1)</script>")
    item = rater.next()["item"]
    rater.play_all(item)
    rater.vote(item["key"], choice="A", comment="=HYPERLINK(\"http://evil\")")
    page = client.get(f"/listen/r/{created.test_id}", params={"token": created.owner_token}).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    csv_text = client.get(f"/listen/api/tests/{created.test_id}/export/votes.csv",
                          params={"token": created.owner_token}).text
    assert "'=HYPERLINK" in csv_text and ",=HYPERLINK" not in csv_text


def test_analysis_recovers_a_simulated_preference_and_flags_careless_raters(env: Env) -> None:
    client, db, created = env.client, env.db, env.created
    order = list(SYSTEMS)  # SystemAlpha > SystemBeta > SystemGamma

    def careful(item: dict, listener: int) -> dict:
        # the simulated listener can hear quality: look up which system sits on each shown side
        shown = _shown_systems(db, item["key"])
        if shown["a"] == shown["b"]:
            return {"choice": "tie"}
        if "degraded" in shown.values():
            return {"choice": "A" if shown["b"] == "degraded" else "B"}
        rank_a, rank_b = order.index(shown["a"]), order.index(shown["b"])
        right = abs(rank_a - rank_b) == 2 or listener >= 2  # neighbours: 4 of 6 listeners hear the difference
        return {"choice": "A" if (rank_a < rank_b) == right else "B"}

    for listener in range(6):
        _vote_through(Rater(client, created.test_id), lambda item, n=listener: careful(item, n))
    careless = Rater(client, created.test_id)
    _vote_through(careless, lambda item: {"choice": "B"})
    result = client.get(f"/listen/api/tests/{created.test_id}/results", params={"token": created.owner_token}).json()
    assert result["flagged_raters"] == [careless.id]
    pair = next(p for p in result["pairs"] if (p["system_x"], p["system_y"]) == ("SystemAlpha", "SystemGamma"))
    assert pair["votes"] == pair["wins_x"] + pair["wins_y"] == 7 * 3 and pair["wins_x"] >= 6 * 3
    assert pair["binomial_p"] < 0.01
    assert result["exclusion_effect"]["other_view"] == "flagged raters excluded"
    excluded = client.get(f"/listen/api/tests/{created.test_id}/results",
                          params={"token": created.owner_token, "exclude_flagged": True}).json()
    assert excluded["votes_analysed"] == 6 * 9
    strengths = {row["system"]: row["log_strength"] for row in excluded["bradley_terry"]["systems"]}
    assert strengths["SystemAlpha"] > strengths["SystemBeta"] > strengths["SystemGamma"]
    (stoi,) = excluded["correlations"]
    # the metric gap (fake "stoi" = gain) is largest where the preference is clearest
    assert stoi["metric"] == "stoi" and stoi["n"] == 9 and stoi["spearman"] > 0.5


def _shown_systems(db: Database, key: str) -> dict[str, str]:
    from sqlalchemy import select

    from eval.listening.schema import Assignment, Clip, Item

    with db.read() as session:
        assignment = session.scalar(select(Assignment).where(Assignment.key == key))
        item = session.get(Item, assignment.item_id)
        a, b = session.get(Clip, item.clip_a_id), session.get(Clip, item.clip_b_id)
        names = [c.system if c.role == "output" else c.role for c in (a, b)]
        return dict(zip(("a", "b"), names[::-1] if assignment.swapped else names, strict=True))


def test_resume_returns_the_first_unanswered_item(env: Env) -> None:
    client, created = env.client, env.created
    rater = Rater(client, created.test_id)
    keys = []
    for _ in range(3):
        item = rater.next()["item"]
        keys.append(item["key"])
        rater.play_all(item)
        rater.vote(item["key"], choice="A")
    state = rater.next()  # a reload: same credentials from localStorage
    assert state["answered"] == 3 and state["item"]["key"] not in keys
    assert state["item"]["position"] == 4
    assert Rater(client, created.test_id).next()["answered"] == 0  # a new rater starts afresh


def test_mos_and_cmos_scores(env: Env) -> None:
    client = env.client
    mos = env.new_test("mos")
    for _ in range(3):
        _vote_through(Rater(client, mos.test_id), lambda item: {"score": 4})
    late = Rater(client, mos.test_id)
    item = late.next()["item"]
    late.play_all(item)
    assert [late.vote(item["key"], score=s).status_code for s in (0, 6, 9)] == [422, 422, 422]
    result = client.get(f"/listen/api/tests/{mos.test_id}/results", params={"token": mos.owner_token}).json()
    assert [row["mean"] for row in result["mos"]] == [4.0, 4.0, 4.0]
    assert result["flagged_raters"]  # 4 on a degraded clip fails the check
    cmos = env.new_test("cmos")
    for _ in range(2):
        _vote_through(Rater(client, cmos.test_id), lambda item: {"score": 2})
    result = client.get(f"/listen/api/tests/{cmos.test_id}/results", params={"token": cmos.owner_token}).json()
    assert {row["n"] for row in result["cmos"]} == {6}
    assert all(-2.0 <= row["mean"] <= 2.0 for row in result["cmos"])  # sides were randomised, so not all +2


def test_clips_are_loudness_matched(env: Env) -> None:
    import pyloudnorm

    folder = Path(env.db.audio_root) / env.created.test_id
    levels = []
    for path in folder.glob("*.wav"):
        clip = audio.load(path)
        levels.append(pyloudnorm.Meter(clip.sample_rate).integrated_loudness(clip.samples.astype(np.float64)))
    assert len(levels) == 9 + 1  # 3 systems x 3 utterances + 1 degraded copy
    assert max(levels) - min(levels) < 0.5  # the sources differed by 12 dB


def test_registrations_per_test_are_capped(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from eval.listening import rating

    monkeypatch.setattr(rating, "MAX_RATERS_PER_TEST", 2)
    api = f"/listen/api/t/{env.created.test_id}/raters"
    assert [env.client.post(api).status_code for _ in range(3)] == [200, 200, 429]
    assert env.client.post("/listen/api/t/no-such-test/raters").status_code == 404
