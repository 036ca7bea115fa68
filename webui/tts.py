"""The Text to speech tab: type text, hear it sentence by sentence, see how intelligible it came out.

Handlers are thin: convert UI values -> lab.tts -> UI values. The synthesis
handler is a generator, so the first sentence plays (streaming gr.Audio) while
the rest is synthesised; the last yield adds the downloadable file, the
self-check scores with their model names, and a spectrogram. The same handler
serves the Clone tab (webui/clone.py). Heavy modules load inside handlers.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator
from typing import Any

import gradio as gr
import numpy as np

from webui import scratch
from webui.errors import user_error

OWN_VOICE = "(the engine's own voice)"
UPLOADED = "(the recording above, not stored)"  # Clone tab: the uploaded reference instead of an enrolled voice
AUTO = "auto"
EXAMPLES = [
    ["Hello! This is Voice Lab, speaking entirely offline on a small CPU.", 1.0],
    ["Dr. Jones paid $12.50 for 3 books on Jan. 5th. Was that a good deal?", 1.0],
    ["The meeting starts at 9:30 a.m.; please don't be late. We have 25 slides to cover!", 1.2],
]
PROGRESS = gr.Progress()  # Gradio injects a live tracker where this is a default
ERRORS: tuple[type[Exception], ...] = (ValueError, RuntimeError, OSError)  # AudioError/TextError/ModelUnavailable


def engine_choices(roles: tuple[str, ...]) -> list[str]:
    """"auto" plus every registered engine with one of ``roles``."""
    from lab import models

    return [AUTO, *(name for name, spec in models.SPECS.items() if spec.role in roles)]


def voice_choices() -> list[str]:
    """Names of the enrolled voices."""
    from lab import voices

    return [voice.name for voice in voices.list_voices()]


def synthesis_events(text: str, voice: Any, engine: str, speed: float, seed: float | None, style: dict[str, float],
                     check: bool, progress: gr.Progress, notes: tuple[str, ...] = ()
                     ) -> Iterator[tuple[Any, Any, Any, Any]]:
    """Stream one synthesis to (live audio chunk, final file, report HTML, spectrogram figure) updates.

    Args:
        voice: None, or a reference Audio (never a user-supplied path).
        notes: what the report should say first (e.g. the uploaded reference's warnings).

    Raises:
        gr.Error: any user-facing problem (bad text, unusable reference, engine unavailable).
    """
    from lab import tts
    from lab.audio import save

    try:
        progress(0.0, desc="Preparing text and loading the engine")
        job = tts.start(text, engine=None if engine in (AUTO, "", None) else engine, voice=voice, speed=speed,
                        seed=None if seed is None or (isinstance(seed, float) and math.isnan(seed)) else int(seed),
                        **style)
        job.notes[:0] = notes
        total = len(job.prepared.sentences)
        for index, part in enumerate(job.parts()):
            progress(min(index + 1, total) / (total + 1), desc=f"Sentence {min(index + 1, total)} of {total}")
            pcm = (np.clip(part.samples, -1, 1) * 32767).astype(np.int16)
            yield (part.sample_rate, pcm), gr.skip(), gr.skip(), gr.skip()
        progress(total / (total + 1), desc="Self-check (ASR, DNSMOS, speaker similarity)" if check else "Finishing")
        result = job.result(check=check)
    except ERRORS as exc:
        raise user_error(exc) from exc
    path = save(result.audio, scratch.new_folder("tts-") / "speech.wav")
    yield gr.skip(), str(path), report_html(result), spectrogram(result.audio)


def report_html(result: Any) -> str:
    """The engine, timings, notes and self-check scores of a TTSResult as escaped HTML."""
    e = html.escape
    model = result.model
    rows = [f"<b>Engine</b>: {e(model['used'])} ({e(model['source'])}, {e(model['location'])})",
            f"<b>Duration</b> {result.audio.duration:.2f} s · <b>RTF</b> {result.rtf:.2f} · "
            f"<b>first audio after</b> {result.first_audio_seconds:.2f} s"]
    parts = result.extra.get("components", {})
    if parts:
        rows.append("<b>Components</b>: " + ", ".join(f"{e(role)} {e(info['used'])}" for role, info in parts.items()))
    rows += [f"⚠ {e(note)}" for note in result.extra.get("notes", [])]
    check = result.check
    if check:
        rows += [f"<b style='color:#b00'>⚑ {e(flag)}</b>" for flag in check["flags"]]
        cells = "".join(f"<tr><td>{e(name)}</td><td>{_fmt(score)}</td><td>{e(str(score['model'] or ''))}</td></tr>"
                        for name, score in check["scores"].items())
        rows.append(f"<table><tr><th>self-check</th><th>value</th><th>model</th></tr>{cells}</table>")
        if check.get("transcript") is not None:
            rows.append(f"<b>ASR heard</b>: “{e(check['transcript'])}”")
    return "<div class='voicelab-report'>" + "<br>".join(rows) + "</div>"


def _fmt(score: dict[str, Any]) -> str:
    if score["value"] is None:
        return html.escape(f"n/a ({score['error'] or score['skipped']})")
    return f"{score['value']:.3f}"


def spectrogram(audio: Any) -> Any:
    """A log-magnitude spectrogram of ``audio`` as a matplotlib Figure (0-8 kHz, dB)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 2.6), tight_layout=True)
    axes = figure.add_subplot()
    axes.specgram(audio.samples, NFFT=512, Fs=audio.sample_rate, noverlap=384, cmap="magma", scale="dB")
    axes.set(xlabel="time (s)", ylabel="frequency (Hz)", ylim=(0, min(8000, audio.sample_rate / 2)))
    return figure


def outputs() -> list[gr.components.Component]:
    """The output components shared by the TTS and Clone tabs: live audio, file, report, spectrogram."""
    live = gr.Audio(label="Listen (streams sentence by sentence)", streaming=True, autoplay=True, interactive=False)
    final = gr.Audio(label="Result (download)", type="filepath", interactive=False, buttons=["download"])
    report = gr.HTML(label="Self-check")
    figure = gr.Plot(label="Spectrogram")
    return [live, final, report, figure]


def speak(text: str, voice_name: str, engine: str, speed: float, noise_scale: float, noise_w: float,
          seed: float | None, check: bool, progress: gr.Progress = PROGRESS) -> Iterator[tuple]:
    """The /tts endpoint: text (optionally in an enrolled voice) to streamed speech plus self-check."""
    voice = None
    if voice_name and voice_name != OWN_VOICE:
        from lab import voices

        try:
            voice = voices.get_voice(voice_name).audio()
        except ERRORS as exc:
            raise user_error(exc) from exc
    style = {"noise_scale": noise_scale, "noise_w": noise_w}
    yield from synthesis_events(text, voice, engine, speed, seed, style, check, progress)


def build() -> None:
    """Add the Text to speech tab's components and events to the current Blocks."""
    from lab.text import MAX_CHARS

    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label=f"Text (up to {MAX_CHARS} characters, English)", lines=5, max_length=MAX_CHARS)
            with gr.Row():
                voice = gr.Dropdown([OWN_VOICE, *voice_choices()], value=OWN_VOICE, label="Voice (enroll in Clone)",
                                    allow_custom_value=True)  # voices enrolled after the page was built
                refresh = gr.Button("↻ voices", size="sm", scale=0)
                engine = gr.Dropdown(engine_choices(("tts", "clone")), value=AUTO, label="Engine")
            with gr.Accordion("Controls", open=False):
                speed = gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Speed")
                noise_scale = gr.Slider(0.0, 1.0, value=0.667, step=0.01, label="Expressiveness (Piper noise scale)")
                noise_w = gr.Slider(0.0, 1.0, value=0.8, step=0.01, label="Rhythm variation (Piper noise w)")
                seed = gr.Number(None, precision=0, label="Seed (stochastic engines, e.g. SpeechT5)")
                check = gr.Checkbox(True, label="Self-check the output (ASR word error rate, DNSMOS)")
            button = gr.Button("Speak", variant="primary")
        with gr.Column():
            outs = outputs()
    gr.Examples(EXAMPLES, [text, speed])
    refresh.click(lambda: gr.Dropdown(choices=[OWN_VOICE, *voice_choices()]), None, voice, api_visibility="private")
    button.click(speak, [text, voice, engine, speed, noise_scale, noise_w, seed, check], outs, api_name="tts")
