"""Reports: numbers equal eval.stats, models never pooled, WER statistics labelled, HTML offline and escaped."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest

from eval import report, stats, summary

EVIL = "<script>alert(1)</script>"


def entry(name: str, value: float | None, model: str | None = None, **details) -> dict:
    return {"name": name, "value": value, "model": model, "error": None, "skipped": None, "details": details}


def wer_entry(value: float, errors: int, ref_units: int, expected: str, heard: str) -> dict:
    alignment = [{"type": "equal", "ref": expected.split()[:1], "hyp": heard.split()[:1]},
                 {"type": "substitute", "ref": expected.split()[1:], "hyp": heard.split()[1:]}]
    return entry("wer", value, "whisper-base-ct2", errors=errors, ref_units=ref_units, reference=expected,
                 transcript=heard, alignment=alignment)


@pytest.fixture
def rows() -> list[dict]:
    """Two systems x 4 utterances; system B's speaker_sim comes from two different encoders."""
    pesq = {"A": [1.5, 2.0, 2.5, 3.0], "B": [2.0, 2.5, 3.5, 4.0]}
    out, line = [], 2
    for system in ("A", "B"):
        for i in range(4):
            uid = EVIL if i == 0 else f"u{i}"
            encoder = "resemblyzer-ge2e" if system == "A" or i < 3 else "ecapa-voxceleb"
            words = 2 + 3 * i  # utterances of different lengths: corpus WER != mean WER
            metrics = {"pesq_wb": entry("pesq_wb", pesq[system][i], delay_ms=12.5, delay_removed=True,
                                        uncovered_seconds=0.8 if (system, i) == ("B", 2) else 0.0),
                       "speaker_sim": entry("speaker_sim", 0.5 + 0.1 * i, encoder),
                       "wer": wer_entry(1 / words, 1, words, f"hello {EVIL} world", "hello there world")}
            out.append({"line": line, "id": uid, "system": system, "audio": f"{uid}.wav", "error": None,
                        "metrics": metrics})
            line += 1
    out.append({"line": line, "id": "broken", "system": "A", "audio": "x.wav", "error": "audio: corrupt",
                "metrics": {}})
    return out


def find(rows: list[summary.SummaryRow], **match) -> list[summary.SummaryRow]:
    return [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]


def test_summary_equals_eval_stats_and_counts_failures(rows: list[dict]) -> None:
    table = summary.summarize(rows, ["pesq_wb", "speaker_sim", "wer"])
    [a] = find(table, system="A", metric="pesq_wb")
    expected = stats.bootstrap_mean_ci([1.5, 2.0, 2.5, 3.0])
    assert (a.n, a.n_failed, a.mean, a.ci_low, a.ci_high) == (4, 1, expected.estimate, expected.low, expected.high)
    [b] = find(table, system="B", metric="pesq_wb")
    assert (b.n, b.n_failed, b.mean) == (4, 0, 3.0)


def test_speaker_similarity_from_different_encoders_is_never_pooled(rows: list[dict]) -> None:
    table = summary.summarize(rows, ["speaker_sim"])
    cells = {(r.system, r.model): (r.n, r.mean) for r in table}
    assert cells[("B", "resemblyzer-ge2e")] == (3, pytest.approx(0.6))
    assert cells[("B", "ecapa-voxceleb")] == (1, pytest.approx(0.8))
    comparisons = summary.compare_systems(rows, ["speaker_sim"])
    assert [(c.model, c.n_pairs) for c in comparisons] == [("resemblyzer-ge2e", 3)]  # not u3 (ecapa in B)


def test_corpus_wer_is_reported_next_to_the_mean_and_labelled(rows: list[dict]) -> None:
    table = summary.summarize(rows, ["wer"])
    [mean] = find(table, system="B", metric="wer", statistic=summary.MEAN)
    [corpus] = find(table, system="B", metric="wer", statistic=summary.CORPUS)
    words = [2, 5, 8, 11]
    assert mean.mean == pytest.approx(sum(1 / w for w in words) / 4)
    assert corpus.mean == pytest.approx(4 / sum(words))
    assert not math.isclose(mean.mean, corpus.mean)


def test_paired_comparison_equals_eval_stats(rows: list[dict]) -> None:
    [c] = summary.compare_systems(rows, ["pesq_wb"])
    expected = stats.paired_comparison([1.5, 2.0, 2.5, 3.0], [2.0, 2.5, 3.5, 4.0])
    assert (c.system_a, c.system_b, c.n_pairs) == ("A", "B", 4)
    assert (c.mean_difference, c.ci_low, c.wilcoxon_p) == (
        expected.mean_difference.estimate, expected.mean_difference.low, expected.wilcoxon_p)


def test_reports_are_self_contained_escaped_and_play_audio(tmp_path: Path, rows: list[dict], speech_set) -> None:
    info = {"metrics": ["pesq_wb", "speaker_sim", "wer"], "manifest": f"/x/{EVIL}.csv", "command": f"run {EVIL}",
            "packages": {"numpy": "2"}, "models": {"asr": {"requested": "whisper-small", "used": "whisper-base-ct2",
                                                           "sha256": {"a/model.bin": "abc123"}}}}
    audio_paths = {(r["system"], r["id"]): speech_set[i % len(speech_set)].path for i, r in enumerate(rows)}
    paths = report.write_reports(tmp_path, rows, info, audio_paths)
    page = paths["html"].read_text()
    assert "<script" not in page.lower() and EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<link" not in page.lower() and "@import" not in page
    clips = re.findall(r'<audio id="clip-\d+" controls preload=none src="(data:audio/wav;base64,[^"]+)"', page)
    assert len(clips) >= 3 and len(set(clips)) == len(clips), "each clip is embedded once"
    assert '<a href="#clip-0">' in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 3
    assert "delay between reference and output was found and removed before scoring on 8 of 8 utterance(s)" in page
    assert "pesq_wb: the output missed part of the reference (scored as silence) on 1 utterance(s)" in page
    assert "whisper-base-ct2" in page and "abc123" in page and "1 of 9 rows could not be scored" in page
    assert '<span class=sub title="substituted">' in page
    md = paths["markdown"].read_text()
    assert EVIL not in md and "&lt;script&gt;" in md
    with paths["summary"].open() as f:
        table = list(csv.DictReader(f))
    labels = {(r["system"], r["metric"], r["statistic"]) for r in table}
    assert ("A", "wer", summary.CORPUS) in labels and ("A", "wer", summary.MEAN) in labels
    assert summary.CORPUS in page and summary.MEAN in page


def test_system_names_are_taken_literally_by_plots_and_spreadsheets(tmp_path: Path, rows: list[dict]) -> None:
    for row in rows:
        row["system"] = {"A": "$x^$", "B": "=cmd|' /C calc'!A0"}[row["system"]]
    paths = report.write_reports(tmp_path, rows, {"metrics": ["pesq_wb"]}, {})
    assert len(re.findall(r'<img src="data:image/png;base64,', paths["html"].read_text())) == 1
    with paths["summary"].open() as f:
        systems = {r["system"] for r in csv.DictReader(f)}
    assert systems == {"$x^$", "'=cmd|' /C calc'!A0"}
