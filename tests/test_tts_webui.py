"""The TTS and Clone tabs: streaming handler, named endpoints via gradio_client, bad input keeps the server up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from lab import audio
from webui import clone as clone_tab
from webui import tts as tts_tab

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
OWN = tts_tab.OWN_VOICE
UPLOADED = clone_tab.UPLOADED
NOT_AUDIO = "not an audio file|readable audio"


def test_tabs_import_no_heavy_modules() -> None:
    code = "import sys, webui.tts, webui.clone; print(sorted(m for m in ('torch', 'transformers', 'speechbrain', " \
           "'onnxruntime', 'piper') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_speak_streams_each_sentence_before_the_final_result() -> None:
    events = list(tts_tab.speak("One sentence here. A second one! And a third?", OWN, "auto", 1.0, 0.667, 0.8,
                                None, False, progress=lambda *a, **k: None))
    assert len(events) == 4  # three live chunks, then the final file, report and spectrogram
    for live, *rest in events[:3]:
        rate, pcm = live
        assert rate == 22050 and pcm.dtype == np.int16 and len(pcm) > rate // 2
        assert all(isinstance(r, type(gr.skip())) for r in rest)
    _, final, report, figure = events[-1]
    assert audio.load(final).duration == pytest.approx(sum(len(e[0][1]) for e in events[:3]) / 22050, abs=0.01)
    assert "piper-joe" in report and "first audio after" in report
    assert figure.axes[0].get_xlabel() == "time (s)"


def test_report_escapes_html() -> None:
    result = type("R", (), {})()
    result.model = {"used": "<b>x</b>", "source": "s", "location": "l"}
    result.audio = audio.Audio(np.zeros(100, np.float32), 16000)
    result.rtf, result.first_audio_seconds = 0.1, 0.1
    result.extra = {"notes": ["<script>alert(1)</script>"]}
    result.check = {"flags": [], "scores": {"wer": {"value": None, "error": "<i>", "skipped": None, "model": "<m>"}},
                    "transcript": "<img src=x>"}
    html = tts_tab.report_html(result)
    assert "<script>" not in html and "<img" not in html and "<b>x</b>" not in html and "<i>" not in html


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    """A running app with the two tabs (temporary voice library), and a gradio_client connected to it."""
    from gradio_client import Client

    data = tmp_path_factory.mktemp("data")
    patch = pytest.MonkeyPatch()
    patch.setenv("VOICELAB_DATA", str(data))
    with gr.Blocks() as demo:
        with gr.Tab("Text to speech"):
            tts_tab.build()
        with gr.Tab("Clone"):
            clone_tab.build()
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    yield Client(url, verbose=False), data
    demo.close()
    patch.undo()


def test_endpoints_answer_and_bad_input_gets_clear_errors_without_killing_the_server(client, tmp_path: Path,
                                                                                     speech_set) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    api, data = client
    assert {"/tts", "/clone", "/enroll_voice"} <= set(api.view_api(print_info=False, return_format="dict")
                                                     ["named_endpoints"])
    job = api.submit("Hello from the voice lab. This is the second sentence. And a third!", OWN, "auto", 1.0,
                     0.667, 0.8, None, False, api_name="/tts")
    updates = list(job)
    assert len(updates) == 4  # the live player gets each sentence before the final result exists
    assert all(str(u[0]).endswith(".m3u8") and u[1] == {"__type__": "update"} for u in updates[:3])
    _, final, report, _ = updates[-1]
    assert audio.load(final).duration > 2.0 and "piper-joe" in report

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(48000, np.float32), 16000)
    short = tmp_path / "short.wav"
    sf.write(short, speech_set[0].audio.slice(0.5, 0.7).samples, 16000)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not a recording")
    bad_calls = [
        ((("", OWN, "auto", 1.0, 0.667, 0.8, None, False), "/tts"), "The text is empty"),
        ((("x" * 10_000, OWN, "auto", 1.0, 0.667, 0.8, None, False), "/tts"), "limit is 5000"),
        ((("Привет, мир", OWN, "auto", 1.0, 0.667, 0.8, None, False), "/tts"), "Cyrillic"),
        ((("Hi.", None, UPLOADED, "auto", 1.0, 0, None, False), "/clone"), "Choose an enrolled voice"),
        ((("Hi.", handle_file(silent), UPLOADED, "auto", 1.0, 0, None, False), "/clone"), "silent"),
        ((("Hi.", handle_file(short), UPLOADED, "auto", 1.0, 0, None, False), "/clone"), "of speech"),
        ((("Hi.", handle_file(not_audio), UPLOADED, "auto", 1.0, 0, None, False), "/clone"), NOT_AUDIO),
        ((("Mine", handle_file(str(speech_set[0].path)), False), "/enroll_voice"), "consent"),
        ((("Silent", handle_file(silent), True), "/enroll_voice"), "silent"),
        ((("../../x", handle_file(not_audio), True), "/enroll_voice"), NOT_AUDIO),
    ]
    for (args, endpoint), message in bad_calls:
        with pytest.raises(AppError, match=message):
            api.predict(*args, api_name=endpoint)
    assert not any((data / "voices").iterdir())  # nothing stored
    _, final, _, _ = api.predict("Still alive?", OWN, "auto", 1.0, 0.667, 0.8, None, False, api_name="/tts")
    assert audio.load(final).duration > 0.5


def test_the_clone_tab_converts_a_recording_into_the_chosen_voice(client, tmp_path: Path, speech_set) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    api, _ = client
    source = next(u for u in speech_set if u.id == "slt_05")
    reference = next(u for u in speech_set if u.id == "awb_01")
    converted, report = api.predict(handle_file(str(source.path)), handle_file(str(reference.path)), UPLOADED,
                                    "auto", api_name="/convert")
    assert audio.load(converted).duration == pytest.approx(source.audio.duration, abs=0.02)
    assert "world-knn-phones" in report and "Heard in the source" in report and "parking lot" in report.lower()

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(48000, np.float32), 16000)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not a recording")
    ref = handle_file(str(reference.path))
    bad_calls = [
        ((None, ref, UPLOADED, "auto"), "Upload or record the speech to convert"),
        ((handle_file(str(source.path)), None, UPLOADED, "auto"), "Choose an enrolled voice"),
        ((handle_file(silent), ref, UPLOADED, "auto"), "silent"),
        ((handle_file(not_audio), ref, UPLOADED, "auto"), NOT_AUDIO),
        ((handle_file(str(source.path)), ref, UPLOADED, "piper-joe"), "not in the list of choices"),
    ]
    for args, message in bad_calls:
        with pytest.raises(AppError, match=message):
            api.predict(*args, api_name="/convert")


def test_the_conversion_report_escapes_what_the_asr_heard() -> None:
    from types import SimpleNamespace

    from webui import convert_files

    result = SimpleNamespace(model={"used": "world-knn-phones", "source": "embedded", "fallback_reason": None},
                             extra={"source_transcript": "<img src=x onerror=alert(1)>", "warnings": ["<b>x</b>"]},
                             audio=audio.Audio(np.zeros(16000, np.float32), 16000), rtf=0.2)
    html = convert_files.report_html(result)
    assert "<img" not in html and "&lt;img" in html and "&lt;b&gt;x" in html


def short_reference(tmp_path: Path, speech_set) -> str:
    """1.8 s of awb: usable, with the 'only 1.x s of speech' warning."""
    utterance = next(u for u in speech_set if u.id == "awb_01")
    path = tmp_path / "short.wav"
    sf.write(path, utterance.audio.samples[: int(1.8 * 16000)], 16000)
    return str(path)


def test_an_uploaded_reference_keeps_its_warnings_in_both_reports(tmp_path: Path, speech_set) -> None:
    from webui import convert_files

    reference = short_reference(tmp_path, speech_set)
    source = next(u for u in speech_set if u.id == "slt_05")
    _, report = convert_files.convert_recording(str(source.path), reference, UPLOADED, "auto",
                                                progress=lambda *a, **k: None)
    assert "⚠ Reference: Only 1." in report
    *_, last = clone_tab.clone("It was fine.", reference, UPLOADED, "auto", 1.0, 0.0, None, False,
                               progress=lambda *a, **k: None)
    assert "⚠ Reference: Only 1." in last[2]
    assert "<b>Components</b>: tts piper-joe, converter world-knn-phones" in last[2]


def test_user_errors_show_user_text_as_text_and_log_no_traceback() -> None:
    from webui.errors import user_error

    error = user_error(ValueError("No enrolled voice named '<b>x</b>' & no file"))
    assert error.message == "No enrolled voice named '&lt;b&gt;x&lt;/b&gt;' &amp; no file"
    assert error.print_exception is False
