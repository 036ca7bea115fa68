"""The Evaluate tab: score one clip, or run a whole batch from a zip and download its report.

Handlers are thin: UI values -> eval.metrics / eval.runner / eval.report ->
UI values. Uploads are checked (audio by lab.audio, zips by eval.bundle) and
every problem reaches the user as a gr.Error with the reason. Heavy modules
load inside handlers only. API endpoints: ``score`` and ``evaluate_batch``.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from webui import scratch
from webui.errors import user_error

MAX_CLIP_SECONDS = 120.0
MAX_BATCH_WORKERS = 2
RESULT_COLUMNS = ["metric", "value", "model", "note"]
SUMMARY_COLUMNS = ["system", "metric", "statistic", "model", "n", "failed", "skipped", "value", "95% CI"]
PROGRESS = gr.Progress()  # Gradio injects a live tracker where this is a default


def metric_names() -> list[str]:
    """Every registered metric name (registry metadata only; no model is loaded)."""
    from eval.metrics.core import METRICS

    return list(METRICS)


def score_clip(deg: str | None, ref: str | None, prompt: str | None, text: str, metrics: list[str]) -> list[list]:
    """Score one uploaded clip; rows of (metric, value, model, note) with skip reasons, errors and fallbacks.

    Args:
        deg: path of the uploaded audio under test (Gradio temp file).
        ref / prompt: optional same-content reference and speaker prompt uploads.
        text: optional expected transcript.
        metrics: the metric names ticked.

    Raises:
        gr.Error: missing or unusable audio, no metric ticked.
    """
    from eval.metrics import MetricInputs, Scorer
    from lab.audio import AudioError, load

    if not deg:
        raise user_error("Upload or record the audio to score first.")
    if not metrics:
        raise user_error("Tick at least one metric.")
    try:
        clips = [load(p, max_seconds=MAX_CLIP_SECONDS) if p else None for p in (deg, ref, prompt)]
    except AudioError as exc:
        raise user_error(exc) from exc
    results = Scorer().score(MetricInputs(clips[0], clips[1], clips[2], (text or "").strip() or None), metrics)
    return [[r.name, None if not math.isfinite(r.value) else round(r.value, 4), r.model or "-", _note(r)]
            for r in results.values()]


def _note(result: Any) -> str:
    parts = [result.skipped and f"skipped: {result.skipped}", result.error and f"error: {result.error}"]
    details = result.details or {}
    if details.get("fallback_reason"):
        parts.append(f"fallback from {details.get('requested_model')}: {details['fallback_reason']}")
    if details.get("transcript") is not None:
        parts.append(f"heard: {details['transcript']}")
    if details.get("delay_ms"):
        parts.append(f"delay {details['delay_ms']:.1f} ms{' removed' if details.get('delay_removed') else ''}")
    if details.get("uncovered_seconds"):
        parts.append(f"the output misses {details['uncovered_seconds']:.2f} s of the reference (scored as silence)")
    if details.get("dropped_seconds"):
        parts.append(f"{details['dropped_seconds']:.2f} s of output beyond the reference not scored")
    if details.get("degraded_silent"):
        parts.append("the output is silent")
    return "; ".join(p for p in parts if p)


def evaluate_batch(bundle: str | None, metrics: list[str], workers: float,
                   progress: gr.Progress = PROGRESS) -> tuple[list[str], list[list], str]:
    """Unpack a zip (manifest + audio), run the batch, write the reports.

    Returns:
        (files to download: report.html, summary.csv, results.jsonl, report.md; summary rows; status text).

    Raises:
        gr.Error: unusable zip or manifest (the message names the problem).
    """
    from eval import bundle as bundles
    from eval import provenance, report, runner
    from eval.manifest import ManifestError

    if not bundle:
        raise user_error("Upload a .zip holding manifest.csv (or .jsonl) and the audio files it lists.")
    work = scratch.new_folder("eval-")
    try:
        progress(0.0, desc="Unpacking the zip")
        manifest = bundles.extract(bundle, work / "input")
        progress(0.02, desc="Loading models")
        outcome = runner.run(manifest, work / "output", metrics=metrics or None,
                             workers=max(1, min(int(workers or 1), MAX_BATCH_WORKERS)),
                             on_progress=lambda done, total: progress(done / total, desc=f"Scored {done} of {total}"),
                             command=["Evaluate tab", f"{Path(bundle).name}"])
        progress(0.99, desc="Writing the report")
        info = provenance.read_json(outcome.out_dir / runner.RUN_FILE)
        paths = report.write_reports(outcome.out_dir, outcome.rows, info, outcome.audio_paths)  # audio embedded
    except (bundles.BundleError, ManifestError, runner.RunError) as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise user_error(exc) from exc
    finally:
        shutil.rmtree(work / "input", ignore_errors=True)  # the unpacked upload (up to 1 GB): not needed any more
    table = [[s.system, s.metric, s.statistic, s.model, s.n, s.n_failed, s.n_skipped, _number(s.mean),
              f"[{_number(s.ci_low)}, {_number(s.ci_high)}]"] for s in report.build(outcome.rows, info).summary]
    status = (f"{len(outcome.rows)} rows scored in {outcome.seconds:.0f} s; {outcome.error_rows} could not be scored "
              "(see the report's Errors section).")
    files = [str(paths["html"]), str(paths["summary"]), str(outcome.out_dir / runner.RESULTS_FILE),
             str(paths["markdown"])]
    return files, table, status


def _number(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.3f}"


def build() -> None:
    """Add this tab's components to the current Blocks."""
    names = metric_names()
    with gr.Tabs():
        with gr.Tab("Score one clip"):
            gr.Markdown("Score one recording. PESQ/STOI need a same-content **reference**, speaker similarity a "
                        "**speaker prompt**, WER/CER the **expected text**; metrics without their input are skipped "
                        "and say why. Model-based scores name the model that produced them.")
            with gr.Row():
                deg = gr.Audio(label="Audio to score", type="filepath", sources=["upload", "microphone"])
                ref = gr.Audio(label="Reference (same content, optional)", type="filepath", sources=["upload"])
                prompt = gr.Audio(label="Speaker prompt (optional)", type="filepath", sources=["upload"])
            text = gr.Textbox(label="Expected text (optional)", lines=2, max_length=2000)
            chosen = gr.CheckboxGroup(names, value=names, label="Metrics")
            score_button = gr.Button("Score", variant="primary")
            results = gr.Dataframe(headers=RESULT_COLUMNS, label="Results", wrap=True, interactive=False)
            score_button.click(score_clip, [deg, ref, prompt, text, chosen], results, api_name="score")
        with gr.Tab("Batch from a zip"):
            gr.Markdown("Upload a **.zip** with `manifest.csv` (or `.jsonl`) and the audio it lists. Columns: `id`, "
                        "`system`, `audio` and optionally `reference`, `prompt`, `text`; paths are relative to the "
                        "manifest. Download the self-contained `report.html`, `summary.csv` and `results.jsonl`.")
            zip_file = gr.File(label="Batch zip", file_types=[".zip"], type="filepath")
            with gr.Row():
                batch_metrics = gr.CheckboxGroup(names, value=names, label="Metrics")
                workers = gr.Slider(1, MAX_BATCH_WORKERS, value=1, step=1, label="Worker processes")
            run_button = gr.Button("Run batch", variant="primary")
            status = gr.Markdown()
            downloads = gr.File(label="Report files", file_count="multiple", interactive=False)
            summary = gr.Dataframe(headers=SUMMARY_COLUMNS, label="Summary", wrap=True, interactive=False)
            run_button.click(evaluate_batch, [zip_file, batch_metrics, workers], [downloads, summary, status],
                             api_name="evaluate_batch")
