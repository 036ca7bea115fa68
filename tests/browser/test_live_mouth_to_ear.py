"""Mouth-to-ear delay of both Live-tab paths, measured in headless Chromium against the running app.

The fake microphone plays a click train (tests/browser/onset_delay.py). The page
records what it captured and what it played on one AudioContext clock; the delay is
the lag of the played onsets behind the captured ones. Figures are written to
``browser_latency.json`` under pytest's temp folder and printed (``-s``).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.browser.onset_delay import delivered_fraction, onset_delay_ms, onset_times_ms, write_click_train

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "fixtures" / "speech" / "slt_00.flac"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 "--autoplay-policy=no-user-gesture-required"]
TARGET_MS = 150.0
RECORD_S = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    """The real app (python app.py) on a free port, or VOICELAB_TEST_URL when set (an app already running)."""
    if os.environ.get("VOICELAB_TEST_URL"):
        yield os.environ["VOICELAB_TEST_URL"].rstrip("/")
        return
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env={**os.environ, "PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/live/config", timeout=10).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"app.py did not start: {proc.stderr.read()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    wav = write_click_train(tmp_path_factory.mktemp("probe") / "click_train.wav")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={wav}"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    results: dict[str, dict] = {}
    yield results
    out = tmp_path_factory.getbasetemp() / "browser_latency.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nmouth-to-ear figures ({out}):\n{json.dumps(results, indent=2)}")


def decode(parts: list[dict]) -> list[dict]:
    """Recorded blocks ``{"frame", "b64"}`` (base64 float32) as ``{"frame", "samples"}``."""
    return [{"frame": p["frame"], "samples": np.frombuffer(base64.b64decode(p["b64"]), "<f4")} for p in parts]


def on_timeline(parts: list[dict], start: int, end: int) -> np.ndarray:
    """Place recorded blocks ``{"frame", "samples"}`` on the frame clock between start and end."""
    out = np.zeros(end - start, np.float32)
    for part in parts:
        samples = part["samples"]
        a, b = max(part["frame"], start), min(part["frame"] + len(samples), end)
        if b > a:
            out[a - start : b - start] = samples[a - part["frame"] : b - part["frame"]]
    return out


def span(inputs: list[dict], outputs: list[dict], rate: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(captured, played, rate) over the span both recordings cover, on the shared frame clock."""
    start = max(min(p["frame"] for p in inputs), min(p["frame"] for p in outputs))
    end = min(max(p["frame"] + len(p["samples"]) for p in parts) for parts in (inputs, outputs))
    assert end - start > rate * 3, "recordings do not overlap by 3 s"
    return on_timeline(inputs, start, end), on_timeline(outputs, start, end), rate


def record_live(ui, js, chunk_ms: int) -> dict:
    """Upload the reference, start the live page (``ui``: its locator scope, ``js``: its frame), record 5 s."""
    ui.locator("#reference").set_input_files(str(REFERENCE))
    ui.locator("#status.ok").wait_for(timeout=60_000)
    ui.locator("#chunk").select_option(str(chunk_ms))
    ui.locator("#start").click()
    ui.locator("#status.ok", has_text="Live").wait_for(timeout=30_000)
    time.sleep(1.5)  # let the jitter buffer settle
    js.evaluate("liveLab.startRecording()")
    time.sleep(RECORD_S)
    return js.evaluate("liveLab.stopRecording()")


def measure(rec: dict) -> dict:
    """The capture-to-playback delay of a recording and the page's own latency figures."""
    rate = rec["rate"]
    sent, played, _ = span(decode(rec["input"]), decode(rec["output"]), rate)
    delay, prominence = onset_delay_ms(sent, played, rate)
    f = rec["figures"]
    return {
        "measured_capture_to_playback_ms": delay, "peak_prominence": round(prominence, 1),
        "context_output_latency_ms": f["output_device_ms"], "readout_estimate_ms": f["estimated_mouth_to_ear_ms"],
        "algorithmic_ms": f["algorithmic_ms"], "compute_p50_ms": f["compute_p50_ms"],
        "compute_p95_ms": f["compute_p95_ms"], "jitter_buffer_ms": f["jitter_buffer_ms"], "rtt_ms": f["rtt_ms"],
        "client_underruns": f["client_underruns"], "skipped_input_ms": f["skipped_input_ms"], "context_rate": rate,
        "bursts_delivered_at_that_delay": round(delivered_fraction(sent, played, rate, delay), 2),
    }


@pytest.mark.parametrize("chunk_ms", [20])  # the page's default; 10 ms needs an idle machine (see the report)
def test_websocket_path_is_within_150_ms_mouth_to_ear(app_url, browser, figures, chunk_ms):
    page = browser.new_page()
    page.goto(app_url + "/")
    page.get_by_role("tab", name="Live").click()
    frame = page.frame_locator("iframe[title='Live voice conversion']")
    rec = record_live(frame, next(f for f in page.frames if f.url.endswith("/live/page")), chunk_ms)
    page.close()
    result = figures[f"websocket_{chunk_ms}ms"] = measure(rec)
    assert result["context_rate"] == 16000, "Chromium captures at the converter's rate: no server resampling"
    assert result["peak_prominence"] > 3, f"no clear onset correlation peak ({result['peak_prominence']})"
    assert result["measured_capture_to_playback_ms"] <= TARGET_MS, figures


def test_websocket_path_at_the_device_rate_resamples_on_the_server(app_url, browser, figures):
    """The path Firefox takes (it refuses a 16 kHz context for a microphone at another rate), forced in Chromium."""
    page = browser.new_page()
    page.goto(app_url + "/live/page?capture=device")
    rec = record_live(page, page, 20)
    page.close()
    result = figures["websocket_20ms_device_rate"] = measure(rec)
    assert result["context_rate"] != 16000, result
    assert result["peak_prominence"] > 3, f"no clear onset correlation peak ({result['peak_prominence']})"
    assert result["measured_capture_to_playback_ms"] <= TARGET_MS, figures


def test_gradio_streaming_path_delay_is_measured(app_url, browser, figures):
    page = browser.new_page()
    page.add_init_script(path=str(Path(__file__).with_name("probe.js")))
    page.goto(app_url + "/")
    page.get_by_role("tab", name="Live").click()
    page.get_by_text("Compatibility path").click()
    page.locator("#live-compat-reference input[type=file]").set_input_files(str(REFERENCE))
    page.locator("#live-compat-reference audio, #live-compat-reference .waveform-container").first.wait_for(
        state="attached", timeout=30_000)
    page.locator("#live-compat-mic button.record-button").click()
    page.wait_for_function("window.__probe.output.length > 0", timeout=30_000)
    time.sleep(2 * RECORD_S)  # longer than the WebSocket path: its output arrives in bursts with gaps
    probe = page.evaluate("window.__probe.dump()")
    page.close()
    assert probe["input"], "the page never captured the microphone"
    assert probe["output"], "the page never played converted audio"
    sent, played, rate = span(decode(probe["input"]), decode(probe["output"]), probe["rate"])
    # the probe loops every 4.8 s: delays up to 4.5 s are unambiguous
    delay, prominence = onset_delay_ms(sent, played, rate, max_delay_ms=4500)
    delivered = delivered_fraction(sent, played, rate, delay)
    figures["gradio_streaming"] = {"measured_capture_to_playback_ms": delay, "peak_prominence": round(prominence, 1),
                                   "bursts_delivered_at_that_delay": round(delivered, 2),
                                   "played_bursts": len(onset_times_ms(played, rate)),
                                   "recorded_s": round(len(sent) / rate, 1)}
    # Gradio's HLS player drops and skips audio on a busy machine, so only a clear peak is a measurement;
    # the figure is reported either way and the report says which runs were clear.
    assert len(onset_times_ms(played, rate)) >= 3, figures["gradio_streaming"]


def test_a_double_click_on_start_opens_one_session_and_stop_ends_it(app_url, browser):
    page = browser.new_page()
    sockets, errors = [], []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url + "/live/page")
    page.locator("#reference").set_input_files(str(REFERENCE))
    page.locator("#status.ok").wait_for(timeout=60_000)
    page.locator("#start").dblclick()
    page.locator("#status.ok", has_text="Live").wait_for(timeout=30_000)
    time.sleep(1.0)
    page.locator("#stop").click()
    time.sleep(1.0)
    page.close()
    assert len(sockets) == 1 and sockets[0].is_closed() and errors == [], (len(sockets), errors)
