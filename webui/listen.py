"""The Listen tab (owner UI) and the listening-test HTTP routes (rater page, rater API, owner API).

Raters never see this tab: they open the shareable link ``/listen/t/<test id>``.
The tab creates tests, shows the link and the owner token once, and shows
results and exports to whoever holds the token.
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
from fastapi import FastAPI

from lab import markdown
from webui import scratch

REPO = Path(__file__).resolve().parents[1]
KINDS = ("ab", "mos", "smos", "cmos")


def allowed_run_roots() -> list[Path]:
    """Folders the tab may read eval runs from: env VOICELAB_RUNS_ROOT (os.pathsep-separated) or runs/ and data/."""
    configured = os.environ.get("VOICELAB_RUNS_ROOT")
    roots = configured.split(os.pathsep) if configured else [str(REPO / "runs"), str(REPO / "data")]
    return [Path(r).resolve() for r in roots if r]


def _run_dir(text: str) -> Path:
    from eval.listening.sources import SourceError

    path = Path(text.strip()).expanduser().resolve()
    if not any(path.is_relative_to(root) for root in allowed_run_roots()):
        raise SourceError("Run folders must be inside " + ", ".join(str(r) for r in allowed_run_roots()) + ".")
    return path


def create_handler(run_dir: str, zip_file: str | None, kind: str, question: str, allow_tie: bool,
                   items_per_rater: float | None, request: gr.Request | None = None) -> str:
    """Create a test from a server run folder or an uploaded zip; Markdown with the link and owner token."""
    from eval.listening import builder, sources
    from eval.listening.database import open_database

    try:
        if zip_file:
            stimuli, origin = sources.from_zip(Path(zip_file).read_bytes()), {"zip": Path(zip_file).name}
        elif run_dir.strip():
            folder = _run_dir(run_dir)
            stimuli, origin = sources.from_run(folder), {"run": str(folder)}
        else:
            return "**Choose a source:** an eval run folder on the server or an uploaded zip with a manifest."
        created = builder.create_test(open_database(), stimuli, kind, question or "", allow_tie=allow_tie,
                                      items_per_rater=int(items_per_rater) if items_per_rater else None, source=origin)
    except (sources.SourceError, OSError) as exc:
        return f"**Could not create the test:** {markdown.escape(exc)}"
    base = str(request.request.base_url).rstrip("/") if request is not None and request.request else ""
    warnings = "".join(f"\n- warning: {markdown.escape(w)}" for w in created.warnings)
    systems = ", ".join(markdown.escape(s) for s in created.systems)
    return (f"**Test `{created.test_id}` created** ({created.kind}, {created.n_items} items + "
            f"{created.n_attention} attention checks, systems: {systems}).\n\n"
            f"- Rater link (share it): {base}{created.rater_path}\n"
            f"- Owner token (shown once; keep it to see results): `{created.owner_token}`\n"
            f"- Results page: {base}/listen/r/{created.test_id}?token={created.owner_token}{warnings}")


def results_handler(test_id: str, token: str, exclude_flagged: bool) -> tuple[str, list[str] | None]:
    """Results HTML and export files for the owner of ``test_id``."""
    from eval.listening import export, report, results_page
    from eval.listening.database import open_database

    db = open_database()
    test_id, token = test_id.strip(), token.strip()
    if not test_id or not token or not report.owner_allowed(db, test_id, token):
        return "<p><b>No test with that id and owner token.</b></p>", None
    analysis = report.analyse_test(db, test_id, exclude_flagged=exclude_flagged)
    folder = scratch.new_folder("listen-")
    files = export.export_all(db, test_id, analysis, folder)
    return results_page.render(analysis), [str(f) for f in files]


def build() -> None:
    """Add the owner UI: create a test, then view its results and download exports."""
    gr.Markdown("Blind listening tests. Create a test, share the rater link, and read the results with the "
                "owner token. Raters never see system names.")
    with gr.Accordion("Create a test", open=True):
        with gr.Row():
            run_dir = gr.Textbox(label="Eval run folder on the server (results.jsonl)",
                                 placeholder=str(REPO / "runs" / "my-run"))
            zip_file = gr.File(label="...or a zip with manifest.csv (id, system, audio[, prompt])",
                               file_types=[".zip"], type="filepath")
        with gr.Row():
            kind = gr.Dropdown(list(KINDS), value="ab", label="Kind")
            question = gr.Textbox(label="Question", value="Which sounds more natural?")
            allow_tie = gr.Checkbox(value=True, label="A/B: offer 'no preference'")
            per_rater = gr.Number(value=None, precision=0, label="Items per rater (empty: all)")
        created = gr.Markdown()
        gr.Button("Create test", variant="primary").click(
            create_handler, [run_dir, zip_file, kind, question, allow_tie, per_rater], created)
    with gr.Accordion("Results", open=True):
        with gr.Row():
            test_id = gr.Textbox(label="Test id")
            token = gr.Textbox(label="Owner token", type="password")
            exclude = gr.Checkbox(label="Exclude flagged raters")
        shown = gr.HTML()
        files = gr.File(label="Exports", file_count="multiple")
        gr.Button("Show results").click(results_handler, [test_id, token, exclude], [shown, files])


def add_routes(app: FastAPI) -> None:
    """Mount the rater page (/listen/t/ID), rater API, audio and owner API; create the schema now."""
    from eval.listening.api import build_router
    from eval.listening.database import open_database

    open_database()
    app.include_router(build_router())
