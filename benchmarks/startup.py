"""How long the app takes to serve its first page, and what the imports cost (median of N fresh processes).

Rows:

* ``app first page``: wall time from ``Popen(python app.py)`` until ``GET /`` returns 200.
* ``import X``: a fresh interpreter times ``import X`` around the statement
  (interpreter start-up excluded).
* ``import gradio`` is the floor for any Gradio app; ``app / gradio`` says how
  much of the start-up is ours.

The ``CPU s`` column is the user+system CPU time of the whole child process
(median). On a shared machine wall times stretch with other people's load, CPU
time much less: it approximates the wall time on an idle machine for these
single-threaded start-ups. The load average before and after is printed.
Run: ``.venv/bin/python benchmarks/startup.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
IMPORTS = {
    "lab": "import lab, lab.audio, lab.audio_codecs, lab.models, lab.model_sources",
    "eval": "import eval, eval.stats, eval.metrics",
    "gradio": "import gradio",
    "app": "import app",
}
TIMED_IMPORT = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def children_cpu() -> float:
    """CPU seconds (user + system) of all finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_import(statement: str) -> tuple[float, float]:
    """(wall seconds inside the import statement, CPU seconds of the whole fresh process)."""
    cpu = children_cpu()
    done = subprocess.run([sys.executable, "-c", TIMED_IMPORT.format(stmt=statement)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1]), children_cpu() - cpu


def time_first_page() -> tuple[float, float]:
    """(wall seconds from starting ``python app.py`` until ``GET /`` answers 200, CPU seconds of the server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cpu = children_cpu()
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env={**ENV, "PORT": str(port)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = None
    try:
        while wall is None and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    wall = time.perf_counter() - start if response.status == 200 else None
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if wall is None:
        raise RuntimeError(f"app.py exited with code {server.returncode} before serving a page")
    return wall, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    load_before = os.getloadavg()
    rows: dict[str, list[tuple[float, float]]] = {"app first page": [], **{f"import {n}": [] for n in IMPORTS}}
    for _ in range(runs):  # round robin, so a change in machine load hits every row alike
        rows["app first page"].append(time_first_page())
        for name, statement in IMPORTS.items():
            rows[f"import {name}"].append(time_import(statement))
    load_after = os.getloadavg()

    print(f"startup, {runs} fresh processes each; {os.cpu_count()} CPUs; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"{'what':<16} {'median s':>9} {'min s':>7} {'max s':>7} {'CPU s':>7}")
    for name, samples in rows.items():
        wall, cpu = [s[0] for s in samples], [s[1] for s in samples]
        print(f"{name:<16} {statistics.median(wall):>9.2f} {min(wall):>7.2f} {max(wall):>7.2f} "
              f"{statistics.median(cpu):>7.2f}")
    app, gradio = rows["app first page"], rows["import gradio"]
    ratios = [statistics.median(s[i] for s in app) / statistics.median(s[i] for s in gradio) for i in (0, 1)]
    print(f"app first page / import gradio: {ratios[0]:.2f} by wall time, {ratios[1]:.2f} by CPU time")


if __name__ == "__main__":
    main()
