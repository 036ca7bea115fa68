"""app.py starts fast because nothing heavy is imported or loaded before a user asks for it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STARTUP_LIMIT_S = 10.0
HEAVY_MODULES = ("torch", "torchaudio", "transformers", "speechbrain")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, response.read().decode("utf-8", "replace")


def test_app_serves_its_first_page_quickly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "VOICELAB_CHECKPOINTS": str(tmp_path / "checkpoints")}
    log = (tmp_path / "app.log").open("w")
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        status, page = None, ""
        while status is None and server.poll() is None and time.perf_counter() - start < 60:
            try:
                status, page = get(f"http://127.0.0.1:{port}/")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        elapsed = time.perf_counter() - start
        assert status == 200, (tmp_path / "app.log").read_text()[-2000:]
        assert '"title":"Voice Lab"' in page  # the Blocks config embedded in the page
        assert elapsed < STARTUP_LIMIT_S, f"first page after {elapsed:.1f} s"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_importing_app_loads_no_heavy_libraries() -> None:
    probe = f"import json, sys, app; print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_app_listens_where_a_space_tells_it(monkeypatch) -> None:
    import app

    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
    assert app.listen_address() == ("127.0.0.1", 7860)
    monkeypatch.setenv("HOST", "::1")
    monkeypatch.setenv("PORT", "9000")
    assert app.listen_address() == ("::1", 9000)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")  # what a Hugging Face Space sets
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    assert app.listen_address() == ("0.0.0.0", 7861)


def test_readme_declares_the_space() -> None:
    header = (REPO / "README.md").read_text().split("---")[1]
    fields = dict(line.split(": ", 1) for line in header.strip().splitlines())
    pinned = next(line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("gradio=="))
    assert fields["sdk"] == "gradio" and fields["app_file"] == "app.py"
    assert fields["sdk_version"] == pinned.split("==")[1]
