"""Running the ONNX models (DNSMOS, Silero VAD) leaves no ONNX Runtime telemetry behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_onnx_runtime_keeps_no_device_id_or_event_queue(tmp_path: Path) -> None:
    code = ("from lab import vad, audio\nimport numpy as np\n"
            "vad.speech_segments(audio.Audio(np.zeros(16000, np.float32), 16000))\nprint('ran')")
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | {"HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ran", done.stderr
    assert not list(tmp_path.rglob("*onnxruntime*")), "ONNX Runtime wrote telemetry under HOME"
