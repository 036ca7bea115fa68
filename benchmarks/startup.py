"""How long the app takes to serve its first page, and what the imports cost (median of N fresh processes).

Rows:

* ``app first page``: from ``Popen(python app.py)`` until ``GET /`` returns 200.
* ``import X``: a fresh interpreter times ``import X`` around the statement
  (interpreter start-up excluded); ``process`` is that whole subprocess, wall clock.
* ``import gradio`` is the floor for any Gradio app; ``app / gradio`` says how
  much of the start-up is ours.

The machine may be shared: the load average before and after is printed.
Run: ``.venv/bin/python benchmarks/startup.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
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


def time_import(statement: str) -> tuple[float, float]:
    """(seconds inside the import statement, seconds for the whole fresh process)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", TIMED_IMPORT.format(stmt=statement)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def time_first_page() -> float:
    """Seconds from starting ``python app.py`` until ``GET /`` answers 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env={**ENV, "PORT": str(port)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise RuntimeError(f"app.py exited with code {server.returncode} before serving a page")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    load_before = os.getloadavg()
    imports: dict[str, list[tuple[float, float]]] = {name: [] for name in IMPORTS}
    pages = []
    for _ in range(runs):  # round robin, so a change in machine load hits every row alike
        pages.append(time_first_page())
        for name, statement in IMPORTS.items():
            imports[name].append(time_import(statement))
    load_after = os.getloadavg()

    def median(values: list[float]) -> float:
        return statistics.median(values)

    print(f"startup, median of {runs} fresh processes; {os.cpu_count()} CPUs; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"{'what':<20} {'median s':>9} {'min s':>7} {'max s':>7} {'process s':>10}")
    print(f"{'app first page':<20} {median(pages):>9.2f} {min(pages):>7.2f} {max(pages):>7.2f} {'':>10}")
    for name, results in imports.items():
        inner = [r[0] for r in results]
        print(f"{'import ' + name:<20} {median(inner):>9.2f} {min(inner):>7.2f} {max(inner):>7.2f} "
              f"{median([r[1] for r in results]):>10.2f}")
    gradio = [r[0] for r in imports["gradio"]]
    print(f"{'app / gradio':<20} {median(pages) / median(gradio):>9.2f} {min(pages) / min(gradio):>7.2f}"
          "   (first page vs. import gradio alone; min is the least disturbed by other load)")


if __name__ == "__main__":
    main()
