"""Batch runner: bad files become error rows, killed runs resume to the same results, workers agree."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from eval import runner
from eval.metrics import MetricResult
from eval.results_log import read_results, to_jsonable
from lab import audio

REPO = Path(__file__).resolve().parents[1]
CHEAP = ["pesq_wb", "stoi"]  # no model to load: fast and still the real metric code


def make_batch(folder: Path, speech_set: list, n: int, noise_seed: int = 0) -> Path:
    """A two-system manifest: system 'clean' is the fixture itself, 'noisy' adds white noise at ~10 dB SNR."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(noise_seed)
    lines = ["id,system,audio,reference"]
    for utt in speech_set[:n]:
        clean = utt.audio
        noise = rng.standard_normal(len(clean.samples)).astype(np.float32) * np.std(clean.samples) / 3.16
        audio.save(clean, folder / f"{utt.id}.wav")
        audio.save(audio.Audio((clean.samples + noise) * 0.5, clean.sample_rate), folder / f"{utt.id}_noisy.wav")
        lines += [f"{utt.id},clean,{utt.id}.wav,{utt.id}.wav", f"{utt.id},noisy,{utt.id}_noisy.wav,{utt.id}.wav"]
    path = folder / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def by_key(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """Rows keyed by (system, id), as plain JSON data (NaN as None, like results.jsonl)."""
    return {(r["system"], r["id"]): to_jsonable(r) for r in rows}


def assert_same_results(got: list[dict], expected: list[dict]) -> None:
    """Same rows, same details, same values up to float64 last-bit noise.

    numpy's reductions round the last bit differently with other BLAS thread counts
    (the workers run 1 thread), e.g. STOI 1.0 vs 0.9999999999999998.
    """
    got_rows, expected_rows = by_key(got), by_key(expected)
    assert got_rows.keys() == expected_rows.keys()
    for key, row in expected_rows.items():
        values = {m: e.pop("value") for m, e in row["metrics"].items()}
        got_values = {m: e.pop("value") for m, e in got_rows[key]["metrics"].items()}
        assert got_rows[key] == row
        assert got_values == pytest.approx(values, rel=0, abs=1e-12, nan_ok=True)


def test_bad_rows_become_error_rows_and_the_run_finishes(tmp_path: Path, speech_set: list) -> None:
    folder = tmp_path / "batch"
    make_batch(folder, speech_set, 1)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10)
    (tmp_path / "outside.wav").write_bytes((folder / "joe_00.wav").read_bytes())
    manifest = folder / "bad.csv"
    manifest.write_text("id,system,audio,reference,text\n"
                        "corrupt,s,corrupt.wav,joe_00.wav,\n"
                        "missing,s,nothere.wav,joe_00.wav,\n"
                        "escape,s,../outside.wav,joe_00.wav,\n"
                        "badref,s,joe_00.wav,corrupt.wav,\n"
                        "emptytext,s,joe_00.wav,joe_00.wav,\n")
    outcome = runner.run(manifest, tmp_path / "out", metrics=[*CHEAP, "wer"])
    rows = {r["id"]: r for r in outcome.rows}
    assert rows["corrupt"]["error"].startswith("audio: ")
    assert "does not exist" in rows["missing"]["error"]
    assert "leaves the manifest folder" in rows["escape"]["error"]
    badref = rows["badref"]["metrics"]
    assert badref["stoi"]["value"] is None or math.isnan(badref["stoi"]["value"])
    assert badref["stoi"]["error"].startswith("reference: ") and badref["stoi"]["skipped"] is None
    good = rows["emptytext"]["metrics"]
    assert good["stoi"]["value"] > 0.99 and good["pesq_wb"]["value"] > 4.5
    assert good["wer"]["error"] == "the text column is empty on line 6"
    assert len(read_results(tmp_path / "out" / "results.jsonl")) == 5


class ScorerFailingOnStoi:
    """A scorer whose STOI raises an unexpected exception (a library bug on one file)."""

    def score(self, inputs, metrics=None):
        if "stoi" in metrics:
            raise ZeroDivisionError("boom")
        return {m: MetricResult(m, float(len(inputs.deg.samples))) for m in metrics}

    def score_many(self, batch, metrics=None):
        return [self.score(inputs, metrics) for inputs in batch]

    def models(self):
        return {}


def test_one_failing_metric_does_not_take_the_others_down(tmp_path: Path, speech_set: list) -> None:
    manifest = make_batch(tmp_path / "batch", speech_set, 1)
    outcome = runner.run(manifest, tmp_path / "out", metrics=CHEAP, scorer_factory=ScorerFailingOnStoi)
    row = outcome.rows[0]
    assert row["error"] is None
    assert row["metrics"]["pesq_wb"]["value"] == len(speech_set[0].audio.samples)
    assert row["metrics"]["stoi"]["error"] == "ZeroDivisionError: boom"


def test_existing_results_need_resume_and_resume_needs_the_same_run(tmp_path: Path, speech_set: list) -> None:
    manifest = make_batch(tmp_path / "batch", speech_set, 1)
    runner.run(manifest, tmp_path / "out", metrics=["stoi"])
    with pytest.raises(runner.RunError, match="pass --resume"):
        runner.run(manifest, tmp_path / "out", metrics=["stoi"])
    with pytest.raises(runner.RunError, match="metric list differs"):
        runner.run(manifest, tmp_path / "out", metrics=["pesq_wb"], resume=True)
    again = runner.run(manifest, tmp_path / "out", metrics=["stoi"], resume=True)
    assert (again.resumed, again.scored) == (2, 0)
    with pytest.raises(runner.RunError, match="Unknown metric"):
        runner.run(manifest, tmp_path / "other", metrics=["stoy"])


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path: Path, speech_set: list) -> None:
    manifest = make_batch(tmp_path / "batch", speech_set, 8)
    reference = runner.run(manifest, tmp_path / "whole", metrics=CHEAP)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "eval", "run", str(manifest), "--out", str(out), "--metrics", ",".join(CHEAP),
               "--no-progress"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or results.read_bytes().count(b"\n") < 3):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = results.read_bytes().count(b"\n")
    assert 3 <= done_before < 16, "the run must be killed midway"
    with results.open("ab") as f:  # the torn line a kill during a write leaves behind
        f.write(b'{"line": 99, "id": "half", "sys')
    resumed = subprocess.run([*command, "--resume"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done_before} resumed" in resumed.stderr
    final = read_results(results)
    assert len(final) == 16
    assert_same_results(final, reference.rows)


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_end_when_their_run_is_killed(tmp_path: Path, speech_set: list) -> None:
    manifest = make_batch(tmp_path / "batch", speech_set, len(speech_set))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "eval", "run", str(manifest), "--out", str(out), "--metrics",
                             ",".join(CHEAP), "--workers", "2", "--no-progress"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not results.exists() or not results.read_bytes().count(b"\n")):
        time.sleep(0.02)
    workers = [p for p in _children(proc.pid) if b"multiprocessing" in Path(f"/proc/{p}/cmdline").read_bytes()]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert results.read_bytes().count(b"\n") < 2 * len(speech_set), "the run must be killed midway"
    assert len(workers) >= 2
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    left = [p for p in workers if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "pool workers outlived the killed run"


def test_two_workers_give_the_same_numbers_as_one(tmp_path: Path, speech_set: list) -> None:
    manifest = make_batch(tmp_path / "batch", speech_set, 3)
    one = runner.run(manifest, tmp_path / "one", metrics=CHEAP, workers=1)
    two = runner.run(manifest, tmp_path / "two", metrics=CHEAP, workers=2)
    assert [(r["system"], r["id"]) for r in two.rows] == [(r["system"], r["id"]) for r in one.rows]
    assert_same_results(two.rows, one.rows)
    lines = [json.loads(x) for x in (tmp_path / "two" / "results.jsonl").read_text().splitlines()]
    assert [x["line"] for x in lines] == sorted(x["line"] for x in lines), "written in manifest order"


@pytest.mark.parametrize(("rows", "workers", "sizes"), [
    (100, 2, [8] * 9 + [7, 6, 4, 3, 2, 2, 1, 1, 1, 1]),
    (5, 1, [3, 1, 1]),
    (1, 4, [1]),
])
def test_chunks_cover_every_row_once_and_shrink_towards_the_end(rows: int, workers: int, sizes: list) -> None:
    manifest_rows = list(range(rows))
    chunks = runner.chunk_rows(manifest_rows, workers)
    assert [row for chunk in chunks for row in chunk] == manifest_rows
    assert [len(chunk) for chunk in chunks] == sizes


class ScorerCrashingOnNoisy(ScorerFailingOnStoi):
    """A scorer whose process dies (as in a native-library crash) on the first noisy clip."""

    def score_many(self, batch, metrics=None):
        if any(inputs.deg.samples[0] != inputs.ref.samples[0] for inputs in batch):
            os._exit(3)
        return [{m: MetricResult(m, 1.0) for m in metrics} for _ in batch]


def test_a_crashing_worker_stops_the_run_with_the_fix_and_resume_finishes_it(tmp_path: Path,
                                                                              speech_set: list) -> None:
    manifest = make_batch(tmp_path / "batch", speech_set, 2)
    with pytest.raises(runner.RunError, match=r"worker process died while scoring lines? .*--resume"):
        runner.run(manifest, tmp_path / "out", metrics=["pesq_wb"], workers=2, scorer_factory=ScorerCrashingOnNoisy)
    outcome = runner.run(manifest, tmp_path / "out", metrics=["pesq_wb"], workers=2, resume=True)
    assert [(r["system"], r["id"]) for r in outcome.rows] == [(s, u.id) for u in speech_set[:2] for s in ("clean",
                                                                                                           "noisy")]
    assert all(r["metrics"]["pesq_wb"]["value"] >= 1.0 for r in outcome.rows)  # fake rows: 1.0, resumed: real
    assert any(r["metrics"]["pesq_wb"]["value"] > 1.0 for r in outcome.rows)
