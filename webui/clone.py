"""The Clone tab: enroll a voice (with consent), manage the voice library, and speak text in that voice.

Enrolment cleans and checks the reference (lab.reference) and stores it with
its speaker embedding (lab.voices); the warnings are shown so the user can
record again. Speaking reuses the TTS tab's streaming handler with a cloning
engine; the self-check adds speaker similarity to the reference. Enrolled
voices are only ever looked up by their validated name. A third section
(webui/convert_files.py) converts a recording into the chosen voice.
"""

from __future__ import annotations

import html
from collections.abc import Iterator

import gradio as gr

from webui import convert_files
from webui.errors import user_error
from webui.tts import AUTO, ERRORS, PROGRESS, UPLOADED, engine_choices, outputs, synthesis_events, voice_choices

EXAMPLE_TEXTS = [
    ["Hi, this is my cloned voice. It was made from a few seconds of audio."],
    ["Can you tell which one of these is really me? Listen closely!"],
]


def enroll(name: str, recording: str | None, consent: bool) -> tuple[str, gr.Dropdown, gr.Dropdown]:
    """Store ``recording`` (a Gradio upload/mic file) as voice ``name``; returns a report and refreshed lists."""
    from lab import voices

    if not recording:
        raise user_error("Upload or record a reference first (3 to 30 seconds of one person speaking).")
    try:
        voice = voices.enroll(name, recording, consent=consent)
    except ERRORS as exc:
        raise user_error(exc) from exc
    ref = voice.meta["reference"]
    lines = [f"Enrolled <b>{html.escape(voice.display_name)}</b> as <code>{html.escape(voice.name)}</code>: "
             f"{ref['speech_seconds']:.1f} s of speech"
             + (f", DNSMOS {ref['dnsmos']:.2f}" if ref["dnsmos"] is not None else "")]
    lines += [f"⚠ {html.escape(w)}" for w in ref["warnings"]]
    return "<br>".join(lines), *_library_updates(voice.name)


def _library_updates(selected: str | None) -> tuple[gr.Dropdown, gr.Dropdown]:
    names = voice_choices()
    value = selected if selected in names else (names[0] if names else None)
    return gr.Dropdown(choices=names, value=value), gr.Dropdown(choices=[UPLOADED, *names], value=value or UPLOADED)


def play(name: str | None) -> str | None:
    """The stored reference of voice ``name`` (file path for gr.Audio), or None."""
    from lab import voices

    if not name:
        return None
    try:
        return str(voices.get_voice(name).folder / voices.REFERENCE_FILE)
    except ERRORS as exc:
        raise user_error(exc) from exc


def rename(name: str | None, new_name: str) -> tuple[gr.Dropdown, gr.Dropdown]:
    """Rename voice ``name`` to ``new_name``."""
    from lab import voices

    try:
        voice = voices.rename_voice(name or "", new_name)
    except ERRORS as exc:
        raise user_error(exc) from exc
    return _library_updates(voice.name)


def delete(name: str | None) -> tuple[gr.Dropdown, gr.Dropdown]:
    """Delete voice ``name`` (audio and embeddings) from disk."""
    from lab import voices

    try:
        voices.delete_voice(name or "")
    except ERRORS as exc:
        raise user_error(exc) from exc
    gr.Info(f"Deleted {name} and its stored audio and embeddings.")
    return _library_updates(None)


def clone(text: str, reference: str | None, voice_name: str, engine: str, speed: float, pitch: float,
          seed: float | None, check: bool, progress: gr.Progress = PROGRESS) -> Iterator[tuple]:
    """The /clone endpoint: speak ``text`` in an enrolled voice or an uploaded reference (not stored)."""
    from lab import reference as reference_io
    from lab import voices

    if not (voice_name and voice_name != UPLOADED) and not reference:
        raise user_error(convert_files.NO_VOICE)
    warnings: list[str] = []
    try:
        if voice_name and voice_name != UPLOADED:
            voice = voices.get_voice(voice_name).audio()
        else:
            progress(0.0, desc="Cleaning the reference (VAD, loudness)")
            prepared = reference_io.prepare(reference_io.load(reference, role="reference"), measure_quality=False)
            voice, warnings = prepared.audio, prepared.warnings
    except ERRORS as exc:
        raise user_error(exc) from exc
    style = {"pitch_semitones": pitch} if pitch else {}
    yield from synthesis_events(text, voice, engine, speed, seed, style, check, progress,
                                tuple(f"Reference: {w}" for w in warnings))


def build() -> None:
    """Add the Clone tab's components and events to the current Blocks."""
    from lab.text import MAX_CHARS
    from lab.voices import CONSENT_TEXT

    names = voice_choices()
    with gr.Row():
        with gr.Column():
            gr.Markdown("### 1 · Reference voice\n3–30 s of one person speaking; noise and echo get cloned too.")
            recording = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Reference")
            name = gr.Textbox(label="Name for the voice library", max_length=48)
            consent = gr.Checkbox(False, label=CONSENT_TEXT)
            enroll_button = gr.Button("Enroll voice")
            enroll_report = gr.HTML()
            with gr.Accordion("Voice library", open=False):
                library = gr.Dropdown(names, value=names[0] if names else None, label="Enrolled voices",
                                      allow_custom_value=True)
                stored = gr.Audio(label="Stored reference", type="filepath", interactive=False)
                new_name = gr.Textbox(label="New name", max_length=48)
                with gr.Row():
                    play_button = gr.Button("Play", size="sm")
                    rename_button = gr.Button("Rename", size="sm")
                    delete_button = gr.Button("Delete", size="sm", variant="stop")
        with gr.Column():
            gr.Markdown("### 2 · Say something in that voice")
            voice = gr.Dropdown([UPLOADED, *names], value=UPLOADED, label="Voice", allow_custom_value=True)
            text = gr.Textbox(label=f"Text (up to {MAX_CHARS} characters)", lines=4, max_length=MAX_CHARS)
            engine = gr.Dropdown(engine_choices(("clone",)), value=AUTO, label="Cloning engine")
            with gr.Accordion("Controls", open=False):
                speed = gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Speed")
                pitch = gr.Slider(-6, 6, value=0, step=0.5, label="Pitch, semitones (if supported)")
                seed = gr.Number(None, precision=0, label="Seed (stochastic engines)")
                check = gr.Checkbox(True, label="Self-check (speaker similarity, ASR word error rate, DNSMOS)")
            button = gr.Button("Clone and speak", variant="primary")
            outs = outputs()
    gr.Examples(EXAMPLE_TEXTS, [text])
    convert_files.build(recording, voice)
    enroll_button.click(enroll, [name, recording, consent], [enroll_report, library, voice], api_name="enroll_voice")
    play_button.click(play, library, stored, api_visibility="private")
    rename_button.click(rename, [library, new_name], [library, voice], api_visibility="private")
    delete_button.click(delete, library, [library, voice], api_visibility="private")
    button.click(clone, [text, recording, voice, engine, speed, pitch, seed, check], outs, api_name="clone")
    # Other sessions enroll and delete voices while this page is open: the lists are re-read when opened.
    library.focus(lambda current: _library_updates(current)[0], library, library, api_visibility="private")
    voice.focus(lambda current: _library_updates(current)[1], voice, voice, api_visibility="private")
