"""`python -m eval listen create|results|export` and the Listen tab's handlers, end to end on a temp database."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from eval.__main__ import main
from eval.listening import rating
from eval.listening.database import open_database
from lab import audio

SPEECH = Path(__file__).parent / "fixtures" / "speech"


@pytest.fixture
def zip_upload(tmp_path: Path) -> Path:
    """A zip with a manifest: 2 systems x 2 utterances, plus a speaker prompt."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.csv", "id,system,audio,prompt\n" + "".join(
            f"{u},{s},{u}_{s}.flac,prompt.flac\n" for u in ("joe_00", "slt_00") for s in ("one", "two")))
        for u in ("joe_00", "slt_00"):
            for s in ("one", "two"):
                archive.write(SPEECH / f"{u}.flac", f"{u}_{s}.flac")
        archive.write(SPEECH / "awb_01.flac", "prompt.flac")
    path = tmp_path / "upload.zip"
    path.write_bytes(buffer.getvalue())
    return path


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_create_vote_results_export(tmp_path: Path, zip_upload: Path, capsys: pytest.CaptureFixture) -> None:
    db_url = f"sqlite:///{tmp_path / 'l.db'}"
    code, out, _ = _run(capsys, "listen", "create", "--zip", str(zip_upload), "--kind", "smos",
                        "--question", "Same speaker as the reference?", "--db", db_url, "--json")
    assert code == 0
    created = json.loads(out)
    assert created["rater_path"] == f"/listen/t/{created['test_id']}" and created["n_items"] == 4
    db = open_database(db_url)
    rater_id, secret = rating.register_rater(db, created["test_id"])
    while (item := rating.next_item(db, created["test_id"], rater_id, secret)["item"]) is not None:
        assert item["slots"] == ["a", "ref"]  # SMOS shows the speaker prompt
        for slot in item["slots"]:
            rating.record_play(db, created["test_id"], rater_id, secret, item["key"], slot)
        rating.cast_vote(db, created["test_id"], rater_id, secret, item["key"], score=2)
    code, out, _ = _run(capsys, "listen", "results", created["test_id"], "--token", created["owner_token"],
                        "--db", db_url, "--json")
    result = json.loads(out)
    assert code == 0 and result["test"]["votes"] == 5 and result["flagged_raters"] == []
    assert [row["mean"] for row in result["mos"]] == [2.0, 2.0]
    code, out, _ = _run(capsys, "listen", "results", created["test_id"], "--token", created["owner_token"],
                        "--db", db_url)
    assert code == 0 and "[mos]" in out
    code, out, _ = _run(capsys, "listen", "export", created["test_id"], "--token", created["owner_token"],
                        "--db", db_url, "--out", str(tmp_path / "exports"))
    written = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert code == 0 and len(written) == 4
    votes = json.loads((tmp_path / "exports" / f"{created['test_id']}-votes.json").read_text())
    assert len(votes) == 5 and {"position", "swapped", "shown_as_A", "played_ref"} <= set(votes[0])
    assert votes[0]["played_a_at"] and votes[0]["played_ref_at"] and not votes[0]["played_b_at"]


def test_wrong_token_and_bad_input_exit_2(tmp_path: Path, zip_upload: Path, capsys: pytest.CaptureFixture) -> None:
    db_url = f"sqlite:///{tmp_path / 'l.db'}"
    code, _, err = _run(capsys, "listen", "results", "nosuchtest", "--token", "x", "--db", db_url)
    assert code == 2 and "owner token" in err
    code, _, err = _run(capsys, "listen", "create", "--from-run", str(tmp_path), "--kind", "ab", "--question", "Q",
                        "--db", db_url)
    assert code == 2 and "results.jsonl" in err
    silent = tmp_path / "silent"
    silent.mkdir()
    audio.save(audio.Audio(np.zeros(16000, np.float32), 16000), silent / "s.wav")
    (silent / "results.jsonl").write_text(json.dumps({"id": "u", "system": "x", "audio": "s.wav"}) + "\n"
                                          + json.dumps({"id": "u", "system": "y", "audio": str(SPEECH / "joe_00.flac"),
                                                        "prompt": "s.wav"}) + "\n")
    code, _, err = _run(capsys, "listen", "create", "--from-run", str(silent), "--kind", "ab", "--question", "Q",
                        "--db", db_url)
    assert code == 2 and "the prompt of utterance 'u': The audio is silent" in err
    assert not any((tmp_path / "listening_audio").iterdir())  # a failed create leaves no half-made test folder


def test_a_silent_output_is_kept_as_it_is_and_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    run.mkdir()
    audio.save(audio.Audio(np.zeros(16000, np.float32), 16000), run / "s.wav")
    (run / "results.jsonl").write_text("".join(json.dumps({"id": u, "system": system, "audio": path}) + "\n" for u in (
        "joe_00", "slt_00") for system, path in (("mute", "s.wav" if u == "joe_00" else str(SPEECH / f"{u}.flac")),
                                                  ("ok", str(SPEECH / f"{u}.flac")))))
    code, out, _ = _run(capsys, "listen", "create", "--from-run", str(run), "--kind", "mos", "--question", "Q",
                        "--db", f"sqlite:///{tmp_path / 'l.db'}")
    assert code == 0
    assert "warning: 1 output clips are silent or too quiet to measure and are played as they are" in out
    assert "mute/joe_00" in out and "no attention checks could be made" not in out
    stored = [audio.load(f) for f in (tmp_path / "listening_audio").glob("*/*.wav")]
    assert sum(not np.any(a.samples) for a in stored) == 1  # the silent output, not a degraded copy of it


def test_listen_tab_handlers(tmp_path: Path, zip_upload: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eval.listening.database import open_database as opener
    from webui import listen

    db_url = f"sqlite:///{tmp_path / 'tab.db'}"
    monkeypatch.setenv("VOICELAB_LISTENING_DB", db_url)
    monkeypatch.setenv("VOICELAB_RUNS_ROOT", str(tmp_path / "runs"))
    refused = listen.create_handler("/etc", None, "ab", "Q", True, None)
    assert "must be inside" in refused
    message = listen.create_handler("", str(zip_upload), "ab", "Which <b>sounds</b> better?", True, None)
    test_id = message.split("`")[1]
    token = message.split("Owner token (shown once; keep it to see results): `")[1].split("`")[0]
    db = opener(db_url)
    rater_id, secret = rating.register_rater(db, test_id)
    item = rating.next_item(db, test_id, rater_id, secret)["item"]
    for slot in item["slots"]:
        rating.record_play(db, test_id, rater_id, secret, item["key"], slot)
    rating.cast_vote(db, test_id, rater_id, secret, item["key"], choice="tie", comment="<script>alert(1)</script>")
    page, files = listen.results_handler(test_id, token, False)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page and "Which &lt;b&gt;sounds" in page
    assert len(files) == 4
    assert listen.results_handler(test_id, "wrong", False) == ("<p><b>No test with that id and owner token.</b></p>",
                                                              None)


def test_the_listening_database_lives_in_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eval.listening import database

    monkeypatch.setenv("VOICELAB_DATA", str(tmp_path))
    url = database.default_url()
    assert url == f"sqlite:///{tmp_path / 'listening.db'}"
    assert database.data_root(url) == tmp_path / "listening_audio"


def test_a_test_of_only_silent_outputs_says_it_has_no_attention_checks(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    run.mkdir()
    audio.save(audio.Audio(np.zeros(16000, np.float32), 16000), run / "s.wav")
    (run / "results.jsonl").write_text("".join(json.dumps({"id": u, "system": "mute", "audio": "s.wav"}) + "\n"
                                               for u in ("a", "b")))
    code, out, _ = _run(capsys, "listen", "create", "--from-run", str(run), "--kind", "mos", "--question", "Q",
                        "--db", f"sqlite:///{tmp_path / 'l.db'}")
    assert code == 0 and "0 attention checks" in out
    assert "warning: no attention checks could be made (every output is silent)" in out
