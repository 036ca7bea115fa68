"""The Clone tab's file conversion: a recording of anyone, spoken again in the chosen voice.

Same words and timing as the source, the timbre and pitch of the target (an
enrolled voice or the uploaded reference). Files default to world-knn-phones,
which matches target frames of the same phone; the report shows which engine
ran, what it heard in both recordings and anything it could not phone-align.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from webui import scratch
from webui.errors import user_error
from webui.tts import AUTO, ERRORS, PROGRESS, UPLOADED, engine_choices

NO_SOURCE = "Upload or record the speech to convert first."
NO_VOICE = "Choose an enrolled voice or upload/record a reference."


def convert_recording(source: str | None, reference: str | None, voice_name: str | None, engine: str,
                      progress: gr.Progress = PROGRESS) -> tuple[str, str]:
    """The /convert endpoint: (converted audio file, report HTML).

    Args:
        source: Gradio upload/microphone file of the speech to convert.
        reference: the uploaded reference recording, used when ``voice_name`` is UPLOADED or empty.
        voice_name: an enrolled voice.
        engine: a converter name or "auto".

    Raises:
        gr.Error: missing or unusable input, or no converter can run.
    """
    from lab import audio, convert, voices
    from lab import reference as reference_io

    if not source:
        raise user_error(NO_SOURCE)
    enrolled = bool(voice_name) and voice_name != UPLOADED
    if not enrolled and not reference:
        raise user_error(NO_VOICE)
    try:
        progress(0.0, desc="Reading the recordings")
        speech = audio.load(source, require_speech=True, max_seconds=convert.MAX_SOURCE_SECONDS, role="source")
        warnings: list[str] = []
        if enrolled:
            target = voices.get_voice(voice_name).audio()
        else:
            prepared = reference_io.prepare(reference_io.load(reference, role="reference"), measure_quality=False)
            target, warnings = prepared.audio, prepared.warnings
        progress(0.3, desc="Converting")
        result = convert.convert(speech, target, convert.DEFAULT_FILE_ENGINE if engine in (AUTO, "", None) else engine)
    except ERRORS as exc:
        raise user_error(exc) from exc
    path = audio.save(result.audio, scratch.new_folder("convert-") / "converted.wav")
    return str(path), report_html(result, warnings)


def report_html(result: Any, reference_warnings: list[str] | None = None) -> str:
    """Engine (and any fallback), duration, speed, transcripts and warnings of a ConversionResult, escaped."""
    e = html.escape
    model, extra = result.model, result.extra
    rows = [f"<b>Engine</b>: {e(model['used'])} ({e(model['source'])})",
            f"<b>Duration</b> {result.audio.duration:.2f} s · <b>RTF</b> {result.rtf:.2f}"]
    if model.get("fallback_reason"):
        rows.append(f"⚠ {e(model['requested'])} could not run: {e(model['fallback_reason'])}")
    rows += [f"⚠ Reference: {e(w)}" for w in reference_warnings or []]
    rows += [f"⚠ {e(w)}" for w in extra.get("warnings", [])]
    for key, label in (("source_transcript", "Heard in the source"), ("reference_transcript", "Heard in the voice")):
        if extra.get(key):
            rows.append(f"<b>{label}</b>: “{e(extra[key])}”")
    return "<div class='voicelab-report'>" + "<br>".join(rows) + "</div>"


def build(reference: gr.Audio, voice: gr.Dropdown) -> None:
    """Add the conversion section, using the Clone tab's reference recording and voice choice."""
    gr.Markdown("### 3 · Convert a recording into that voice\nSame words and timing, the chosen voice.")
    with gr.Row():
        with gr.Column():
            source = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech to convert")
            engine = gr.Dropdown(engine_choices(("convert",)), value=AUTO, label="Converter (auto: world-knn-phones)")
            button = gr.Button("Convert", variant="primary")
        with gr.Column():
            converted = gr.Audio(label="Converted (download)", type="filepath", interactive=False,
                                 buttons=["download"])
            report = gr.HTML()
    button.click(convert_recording, [source, reference, voice, engine], [converted, report],
                 api_name="convert")
