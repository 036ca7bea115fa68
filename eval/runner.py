"""Batch evaluation: a manifest in, one durable results.jsonl row per utterance out, resumable.

The run is built so that no single file can end it: a bad path, corrupt audio
or a metric that raises becomes an error row (or a NaN metric with its
error), and the run goes on. Rows are written as they finish (flush + fsync),
so a killed run keeps what it scored and ``resume=True`` scores only the rest.

Rows are scored in chunks (``Scorer.score_many``: the ASR decodes a chunk's
clips together), at most MAX_CHUNK rows, smaller towards the end of the run so
that the workers finish together. With ``workers > 1`` a process pool (spawn)
scores chunks in parallel; every worker builds ONE scorer in its initializer,
so models load once per worker, and limits its own math libraries to
``cpu_count // workers`` threads so the workers do not fight over the cores.
The parent writes rows in manifest order as their chunk finishes.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval import provenance
from eval.manifest import ManifestRow, read_manifest
from eval.results_log import ResultsWriter, read_results, write_json_atomic
from eval.row_scoring import score_rows

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
MAX_CHUNK = 8  # rows per score_many call: the ASR's decode batch

ScorerFactory = Callable[[], Any]  # returns an object with score/score_many(…, metrics) and models()
ProgressCallback = Callable[[int, int], None]  # (rows finished, rows in the manifest)


class RunError(RuntimeError):
    """The run cannot start or continue; the message says what to do."""


@dataclass(frozen=True)
class RunOutcome:
    """What a run did.

    Attributes:
        out_dir: the output folder.
        rows: every result row of the manifest, in manifest order.
        manifest: the checked manifest rows (their audio paths feed the report's players).
        resumed: rows that were already done and were skipped.
        scored: rows scored by this call.
        seconds: wall time of this call's scoring, seconds.
    """

    out_dir: Path
    rows: list[dict[str, Any]]
    manifest: list[ManifestRow]
    resumed: int
    scored: int
    seconds: float

    @property
    def audio_paths(self) -> dict[tuple[str, str], Path]:
        """Checked audio path per (system, id)."""
        return {r.key: r.audio for r in self.manifest if r.audio is not None}

    @property
    def error_rows(self) -> int:
        """Rows that could not be scored at all."""
        return sum(1 for r in self.rows if r.get("error"))


def default_scorer() -> Any:
    """The project's Scorer with its default models (embedded ones offline)."""
    from eval.metrics import Scorer

    return Scorer()


def run(
    manifest: str | Path,
    out_dir: str | Path,
    *,
    metrics: Sequence[str] | None = None,
    workers: int = 1,
    resume: bool = False,
    systems: Sequence[str] | None = None,
    scorer_factory: ScorerFactory = default_scorer,
    on_progress: ProgressCallback | None = None,
    command: Sequence[str] | None = None,
    show_progress: bool = False,
) -> RunOutcome:
    """Score every row of ``manifest`` into ``out_dir/results.jsonl``.

    Args:
        manifest: CSV/JSONL manifest (see eval.manifest).
        out_dir: output folder; created if missing.
        metrics: metric names (default: all registered metrics).
        workers: processes scoring in parallel (1: in this process).
        resume: continue an interrupted run in ``out_dir`` (same manifest and metrics).
        systems: allowed system names (others are a manifest error).
        scorer_factory: picklable callable building the scorer (once per worker).
        on_progress: called with (rows done, rows total) after every row.
        command: the command line recorded in the provenance.
        show_progress: draw a tqdm progress bar on stderr.

    Returns:
        RunOutcome with every row in manifest order.

    Raises:
        ManifestError: the manifest cannot be used.
        RunError: unknown metrics, results exist without ``resume``, or resume mismatch.
    """
    from tqdm import tqdm

    manifest = Path(manifest)
    rows = read_manifest(manifest, systems)
    metric_names = _check_metrics(metrics)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS_FILE
    meta = {"manifest": str(manifest), "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
            "metrics": list(metric_names)}
    done = _prepare_output(out, results_path, meta, resume)
    previous = provenance.read_json(out / RUN_FILE) if resume else {}
    info = provenance.run_info(command or sys.argv, workers) | meta | {"models": previous.get("models", {})}
    info["threads_per_worker"] = threads_per_worker(workers) if workers > 1 else "library defaults"
    if previous:
        info["first_started"] = previous.get("first_started", previous.get("started"))
    write_json_atomic(out / RUN_FILE, info)

    todo = [r for r in rows if r.key not in done]
    finished = len(rows) - len(todo)
    bar = tqdm(total=len(rows), initial=finished, unit="utt", file=sys.stderr, disable=not show_progress)
    started = time.perf_counter()
    with ResultsWriter(results_path) as writer:
        for record, models in _score_all(todo, metric_names, workers, scorer_factory):
            writer.append(record)
            done[(record["system"], record["id"])] = record
            if models.keys() - info["models"].keys():
                info["models"] |= models
                write_json_atomic(out / RUN_FILE, info)
            finished += 1
            bar.update(1)
            if on_progress:
                on_progress(finished, len(rows))
    bar.close()
    seconds = time.perf_counter() - started
    ordered = [done[r.key] for r in rows]
    return RunOutcome(out, ordered, rows, len(rows) - len(todo), len(todo), seconds)


def threads_per_worker(workers: int) -> int:
    """Math-library threads each of ``workers`` processes gets: the cores shared out, at least 1."""
    return max(1, (os.cpu_count() or 1) // workers)


def _check_metrics(metrics: Sequence[str] | None) -> tuple[str, ...]:
    from eval.metrics import METRICS

    if not metrics:
        return tuple(METRICS)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise RunError(f"Unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}.")
    return tuple(dict.fromkeys(metrics))


def _prepare_output(out: Path, results_path: Path, meta: dict[str, Any], resume: bool) -> dict:
    """Check the output folder and return the rows already done, keyed by (system, id)."""
    if not resume:
        if results_path.exists() and results_path.stat().st_size > 0:
            raise RunError(f"{results_path} already holds results: pass --resume to continue that run, "
                           "or choose another --out folder.")
        return {}
    previous = provenance.read_json(out / RUN_FILE)
    for key, label in (("manifest_sha256", "manifest"), ("metrics", "metric list")):
        if previous and previous.get(key) != meta[key]:
            raise RunError(f"Cannot resume in {out}: the {label} differs from the interrupted run's. "
                           "Use the same manifest and --metrics, or another --out folder.")
    return {(r["system"], r["id"]): r for r in read_results(results_path, repair=True)}


def chunk_rows(rows: Sequence[ManifestRow], workers: int) -> list[list[ManifestRow]]:
    """Consecutive chunks of ``rows``: MAX_CHUNK rows each, shrinking near the end (guided scheduling).

    A chunk takes a share 1 / (2 * workers) of the rows still left, so the last
    chunks are single rows and no worker is left with a long chunk while the others idle.
    """
    chunks, start = [], 0
    while start < len(rows):
        size = min(MAX_CHUNK, max(1, -(-(len(rows) - start) // (2 * workers))))
        chunks.append(list(rows[start:start + size]))
        start += size
    return chunks


def _score_all(
    rows: list[ManifestRow], metrics: tuple[str, ...], workers: int, factory: ScorerFactory
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (record, models used so far) per row, in the order of ``rows``."""
    if not rows:
        return
    chunks = chunk_rows(rows, workers)
    if workers <= 1:
        scorer = factory()
        for chunk in chunks:
            records = score_rows(scorer, chunk, metrics)
            models = scorer.models()
            for record in records:
                yield record, models
        return
    threads = threads_per_worker(workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(factory, threads)) as pool:
        pending: deque[tuple[list[ManifestRow], Future]] = deque()
        for chunk in chunks:  # keep a bounded window in flight, write results in manifest order
            pending.append((chunk, pool.submit(_score_in_worker, chunk, metrics)))
            if len(pending) >= 2 * workers:
                yield from _results(*pending.popleft())
        while pending:
            yield from _results(*pending.popleft())


def _results(chunk: list[ManifestRow], future: Future) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    try:
        records, models = future.result()
    except BrokenProcessPool:
        lines = f"{chunk[0].line}-{chunk[-1].line}" if len(chunk) > 1 else str(chunk[0].line)
        raise RunError(f"A worker process died while scoring lines {lines} or rows near them (a crash in a "
                       "native library, or out of memory). Rows finished so far are saved: rerun with --resume, "
                       "and --workers 1 to find the file.") from None
    for record in records:
        yield record, models


_worker_scorer: Any = None


def _init_worker(factory: ScorerFactory, threads: int) -> None:
    """Pool initializer: limit math threads, then build this worker's one scorer (models load here)."""
    from threadpoolctl import threadpool_limits

    global _worker_scorer
    _exit_with_parent()
    for variable in THREAD_VARIABLES:  # read by libraries that start after this point (torch, CTranslate2)
        os.environ[variable] = str(threads)
    threadpool_limits(limits=threads)  # BLAS/OpenMP pools already loaded (numpy came with the unpickling)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    _worker_scorer = factory()


def _exit_with_parent() -> None:
    """End this worker when the run that started it dies: a killed run (SIGKILL, OOM) cannot shut its
    pool down, and its idle workers would hold their models' memory (about 1.5 GB each) indefinitely."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (parent.join(), os._exit(1)), name="exit-with-parent", daemon=True).start()


def _score_in_worker(chunk: list[ManifestRow],
                     metrics: tuple[str, ...]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return score_rows(_worker_scorer, chunk, metrics), _worker_scorer.models()
