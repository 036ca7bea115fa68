"""Batch-run reports: summary.csv, report.md and a self-contained report.html from result rows.

The numbers come from eval.summary (bootstrap CIs and paired tests from
eval.stats); this module lays them out. Every string that came from a
manifest or a transcript is escaped (HTML) or made table-safe (Markdown).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval import plots, report_html, summary
from eval.report_html import Html, esc, number
from lab.markdown import escape as md_escape
from lab.spreadsheet import formula_safe

log = logging.getLogger(__name__)

WORST_PER_METRIC = 3
MAX_AUDIO_CLIPS = 24
CLIP_SECONDS = 10.0
CLIP_RATE = 16000
MAX_ERRORS_LISTED = 200
STAT_NOTE = (f"'{summary.MEAN}' averages each utterance's score; for WER/CER, '{summary.CORPUS}' pools every "
             "utterance's errors over all reference words (long utterances weigh more). CIs: 95% bootstrap.")


@dataclasses.dataclass(frozen=True)
class Report:
    """What the reports state, computed once and laid out three ways."""

    rows: list[dict[str, Any]]
    info: dict[str, Any]
    metrics: list[str]
    summary: list[summary.SummaryRow]
    comparisons: list[summary.Comparison]
    notes: list[str]


def build(rows: Sequence[dict[str, Any]], info: dict[str, Any]) -> Report:
    """Compute the summary, comparisons and notes of a run (``info`` is its run.json)."""
    rows = sorted(rows, key=lambda r: r["line"])
    metrics = list(info.get("metrics") or dict.fromkeys(m for r in rows for m in r.get("metrics", {})))
    notes = (summary.fallback_notes(rows) + summary.delay_notes(rows, metrics) + summary.coverage_notes(rows, metrics)
             + _skip_notes(rows))
    errors = sum(1 for r in rows if r.get("error"))
    if errors:
        notes.append(f"{errors} of {len(rows)} rows could not be scored at all (listed under Errors).")
    return Report(rows, info, metrics, summary.summarize(rows, metrics), summary.compare_systems(rows, metrics), notes)


def write_reports(out_dir: Path, rows: Sequence[dict[str, Any]], info: dict[str, Any],
                  audio_paths: dict[tuple[str, str], Path]) -> dict[str, Path]:
    """Write summary.csv, report.md and report.html into ``out_dir``.

    Args:
        out_dir: the run's output folder.
        rows: result rows (results.jsonl).
        info: the run's provenance (run.json).
        audio_paths: checked audio path per (system, id), for the inline players.

    Returns:
        {"summary": path, "markdown": path, "html": path}.
    """
    report = build(rows, info)
    paths = {"summary": out_dir / "summary.csv", "markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    write_summary_csv(paths["summary"], report.summary)
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    paths["html"].write_text(html_page(report, audio_paths), encoding="utf-8")
    return paths


def write_summary_csv(path: Path, rows: Sequence[summary.SummaryRow]) -> None:
    """One CSV line per system/metric/statistic/model (NaN written as empty; formula-like text quoted)."""
    fields = [f.name for f in dataclasses.fields(summary.SummaryRow)]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            values = dataclasses.asdict(row)
            writer.writerow({k: "" if isinstance(v, float) and v != v else formula_safe(v) for k, v in values.items()})


def markdown(report: Report) -> str:
    """The Markdown report (tables only; plots and audio are in the HTML report)."""
    out = [f"# Evaluation report\n\n{_md(_run_line(report))}\n", "## Summary\n", _md(STAT_NOTE) + "\n",
           _md_table(["system", "metric", "statistic", "model", "n", "failed", "skipped", "value", "95% CI"],
                     [(s.system, s.metric, s.statistic, s.model, s.n, s.n_failed, s.n_skipped, number(s.mean),
                       f"[{number(s.ci_low)}, {number(s.ci_high)}]") for s in report.summary]),
           "\n## Notes\n", "\n".join(f"- {_md(n)}" for n in report.notes) or "None.", "\n## Paired comparisons\n",
           _md_table(["metric", "model", "a", "b", "pairs", "mean a − b", "95% CI", "Wilcoxon p"],
                     [(c.metric, c.model, c.system_a, c.system_b, c.n_pairs, number(c.mean_difference),
                       f"[{number(c.ci_low)}, {number(c.ci_high)}]", number(c.wilcoxon_p, 4))
                      for c in report.comparisons]), "\n## Worst utterances\n"]
    for metric, model, worst in _worst(report):
        if worst:
            out.append(f"\n### {_md(_label(metric, model))}\n")
            out.append(_md_table(["system", "id", "value", "model", "expected / transcript"],
                                 [(r["system"], r["id"], number(summary.metric_value(r, metric)),
                                   summary.model_of(r, metric), _transcript_text(r)) for r in worst]))
    out += ["\n## Errors\n", "\n".join(f"- {_md(e)}" for e in _error_lines(report.rows)) or "None.",
            "\n## Provenance\n", _md_table(["item", "value"], _provenance_items(report.info))]
    return "\n".join(out) + "\n"


def html_page(report: Report, audio_paths: dict[tuple[str, str], Path]) -> str:
    """The self-contained HTML report."""
    clips = _ClipEmbedder(audio_paths)
    sections = [
        ("Run", esc(_run_line(report))),
        ("Summary", Html(f"<p>{esc(STAT_NOTE)}</p>{report_html.summary_table(report.summary)}")),
        ("Notes", report_html.bullet_list(report.notes)),
        ("Distributions", _plots(report)),
        ("Paired comparisons (same utterance ids, same model)", report_html.comparison_table(report.comparisons)),
        ("Worst utterances", _worst_html(report, clips)),
        ("Errors", report_html.bullet_list(_error_lines(report.rows))),
        ("Provenance", Html(report_html.table(["item", "value"], _provenance_items(report.info))
                            + report_html.table(["role", "requested", "used", "source", "location",
                                                 "checksums (sha256)"], _model_rows(report.info)))),
    ]
    return report_html.page("Voice Lab evaluation report", sections)


def _plots(report: Report) -> Html:
    parts = []
    for metric in report.metrics:
        groups = [(_label(s.system, s.model), summary.values_of(report.rows, s.system, metric, s.model))
                  for s in report.summary if s.metric == metric and s.statistic == summary.MEAN and s.n > 0]
        if groups:
            png = plots.distribution_png(groups, metric, _unit(metric))
            parts.append(report_html.image_tag(plots.data_uri(png, "image/png"), f"distribution of {metric}"))
    return Html("".join(parts) or "<p>No finite values to plot.</p>")


def _worst_html(report: Report, clips: _ClipEmbedder) -> Html:
    parts = [f"<p>Up to {WORST_PER_METRIC} per metric; audio embedded for the first {MAX_AUDIO_CLIPS} "
             f"utterances, at most {CLIP_SECONDS:.0f} s each at {CLIP_RATE // 1000} kHz.</p>"]
    for metric, model, worst in _worst(report):
        rows = [(r["system"], r["id"], number(summary.metric_value(r, metric)), summary.model_of(r, metric),
                 clips.tag(r), _transcript_html(r)) for r in worst]
        parts.append(f"<h3>{esc(_label(metric, model))}</h3>")
        parts.append(report_html.table(["system", "id", "value", "model", "audio", "expected vs transcript"], rows,
                                       numeric=(2,)))
    return Html("".join(parts))


def _label(name: str, model: str) -> str:
    """"name (model)", or just the name for model-free metrics."""
    return name if model == "-" else f"{name} ({model})"


def _worst(report: Report) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(metric, model, worst rows) per metric and model: values of different models are not ranked together."""
    return [(metric, model, summary.worst_rows(report.rows, metric, model, _higher_is_better(metric),
                                               WORST_PER_METRIC))
            for metric in report.metrics for model in summary.models_of(report.rows, metric)]


class _ClipEmbedder:
    """Audio players for report rows: each clip embedded once (later cells link to it), at most MAX_AUDIO_CLIPS."""

    def __init__(self, audio_paths: dict[tuple[str, str], Path]) -> None:
        self.audio_paths = audio_paths
        self.anchors: dict[tuple[str, str], str | None] = {}

    def tag(self, row: dict[str, Any]) -> Html:
        from lab.audio import AudioError, load, to_wav_bytes

        key = (row["system"], row["id"])
        if key in self.anchors:
            return report_html.audio_link(self.anchors[key]) if self.anchors[key] else Html("–")
        path, uri = self.audio_paths.get(key), None
        if path is not None and sum(1 for a in self.anchors.values() if a) < MAX_AUDIO_CLIPS:
            try:
                clip = load(path).resample(CLIP_RATE).slice(0.0, CLIP_SECONDS)
                uri = plots.data_uri(to_wav_bytes(clip), "audio/wav")
            except AudioError as exc:
                log.warning("report: cannot embed %s: %s", path, exc)
        self.anchors[key] = f"clip-{len(self.anchors)}" if uri else None
        return report_html.audio_tag(uri, self.anchors[key] or "")


def _wer_details(row: dict[str, Any]) -> dict[str, Any]:
    return ((row.get("metrics") or {}).get("wer") or {}).get("details") or {}


def _transcript_html(row: dict[str, Any]) -> Html:
    details = _wer_details(row)
    if details.get("alignment"):
        return report_html.alignment_html(details["alignment"])
    return esc(_transcript_text(row))


def _transcript_text(row: dict[str, Any]) -> str:
    details = _wer_details(row)
    if "transcript" not in details:
        return "–"
    return f"expected: {details.get('reference', '')} / heard: {details['transcript']}"


def _skip_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    reasons = Counter((name, e["skipped"]) for r in rows for name, e in (r.get("metrics") or {}).items()
                      if e.get("skipped"))
    return [f"{name} not computed for {n} utterance(s): {why}" for (name, why), n in reasons.items()]


def _error_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for r in rows:
        if r.get("error"):
            lines.append(f"line {r['line']} ({r['system']}/{r['id']}): {r['error']}")
        for name, e in (r.get("metrics") or {}).items():
            if e.get("error"):
                lines.append(f"line {r['line']} ({r['system']}/{r['id']}) {name}: {e['error']}")
    if len(lines) > MAX_ERRORS_LISTED:
        lines = [*lines[:MAX_ERRORS_LISTED], f"… and {len(lines) - MAX_ERRORS_LISTED} more (see results.jsonl)"]
    return lines


def _run_line(report: Report) -> str:
    info, rows = report.info, report.rows
    return (f"Manifest {Path(info.get('manifest', '?')).name}: {len(rows)} rows, "
            f"systems {', '.join(summary.systems_of(rows))}; metrics {', '.join(report.metrics)}; "
            f"started {info.get('started', '?')}.")


def _provenance_items(info: dict[str, Any]) -> list[tuple[str, str]]:
    keys = ("command", "started", "first_started", "workers", "threads_per_worker", "python", "platform", "cpu_count",
            "manifest", "manifest_sha256")
    items = [(k, str(info[k])) for k in keys if k in info]
    return items + [(f"package {name}", version) for name, version in (info.get("packages") or {}).items()]


def _model_rows(info: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(role, m.get("requested", ""), m.get("used", ""), m.get("source", ""), m.get("location", ""),
             "; ".join(f"{Path(f).name}: {h}" for f, h in (m.get("sha256") or {}).items()))
            for role, m in (info.get("models") or {}).items()]


def _higher_is_better(metric: str) -> bool:
    from eval.metrics import METRICS

    return METRICS[metric].higher_is_better if metric in METRICS else True


def _unit(metric: str) -> str:
    from eval.metrics import METRICS

    return METRICS[metric].unit if metric in METRICS else ""


def _md(text: Any) -> str:
    """Escape text for a Markdown table cell or line (see lab.markdown)."""
    return md_escape(text)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "None."
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
