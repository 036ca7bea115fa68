"""Browser test of the rater page in headless Chromium against the real app server.

A rater opens the shareable link, plays both clips of each item, votes,
reloads mid-test and resumes at the right item, finishes; then the owner
reads the results page, where a rater's HTML comment shows as text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from lab import audio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import listening_load as bench  # noqa: E402 (the benchmark's app-server runner)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


@pytest.fixture
def short_run(tmp_path: Path, speech_set) -> Path:
    """An eval-run folder: 2 systems x 2 utterances of 1-second clips (short playback)."""
    run = tmp_path / "run"
    run.mkdir()
    rows = []
    for utt in speech_set[:2]:
        for system, gain in (("SystemAlpha", 1.0), ("SystemBeta", 0.3)):
            clip = audio.Audio((utt.audio.slice(0.5, 1.5).samples * gain).astype("float32"), utt.audio.sample_rate)
            path = audio.save(clip, run / f"{utt.id}_{system}.wav")
            rows.append({"id": utt.id, "system": system, "audio": path.name, "pesq": 3.0 * gain})
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def _vote_current_item(page, comment: str = "") -> str:
    """Play both clips, wait for the server to record them, vote "A"; returns the voted item's A clip URL."""
    src = page.get_attribute("#audio-a", "src")
    page.click("#play-a")
    page.click("#play-b")
    page.wait_for_selector("#mark-a:has-text('played')", timeout=15_000)
    page.wait_for_selector("#mark-b:has-text('played')", timeout=15_000)
    page.fill("#comment", comment)
    page.click("button.vote[data-value='A']:not([disabled])")
    page.wait_for_function("src => !document.querySelector('#audio-a') || "
                           "document.querySelector('#audio-a').getAttribute('src') !== src", arg=src, timeout=15_000)
    return src


@pytest.mark.browser
def test_rater_votes_reloads_resumes_and_owner_sees_results(tmp_path: Path, short_run: Path) -> None:
    from playwright.sync_api import sync_playwright

    from eval.listening import builder, sources
    from eval.listening.database import open_database

    db_url = f"sqlite:///{tmp_path / 'listening.db'}"
    created = builder.create_test(open_database(db_url), sources.from_run(short_run), "ab", "Which is clearer?",
                                  seed=1)
    total = created.n_items + created.n_attention
    assert total == 4
    server = bench.Server(db_url, bench.free_port(), tmp_path / "server.log")
    server.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(server.base + created.rater_path)
            page.wait_for_selector("#play-a")
            assert "SystemAlpha" not in page.content() and "SystemBeta" not in page.content()  # blind
            # voting before playing is impossible
            assert page.is_disabled("button.vote[data-value='A']")
            _vote_current_item(page, XSS)
            _vote_current_item(page)
            expected_src = page.get_attribute("#audio-a", "src")
            assert "Item 3 of 4" in page.inner_text("#progress-text")
            page.reload()
            page.wait_for_selector("#play-a")
            assert "Item 3 of 4" in page.inner_text("#progress-text")
            assert page.get_attribute("#audio-a", "src") == expected_src  # resumed at the same item
            _vote_current_item(page)
            _vote_current_item(page)
            page.wait_for_selector("#progress-text:has-text('Done')")
            rater = json.loads(page.evaluate(f"localStorage.getItem('voicelab-rater-{created.test_id}')"))

            results_url = f"{server.base}/listen/r/{created.test_id}?token={created.owner_token}"
            page.goto(results_url)
            assert page.evaluate("window.__xss") is None  # the comment was shown as text
            assert XSS in page.inner_text("body")
            assert "SystemAlpha" in page.inner_text("body")  # the owner does see system names
            browser.close()
        results = httpx.get(f"{server.base}/listen/api/tests/{created.test_id}/results",
                            headers={"Authorization": f"Bearer {created.owner_token}"}).json()
        assert results["test"]["votes"] == 4
        assert results["raters"][0]["rater"] == rater["rater_id"]
        assert httpx.get(f"{server.base}/listen/api/tests/{created.test_id}/results").status_code == 401
    finally:
        server.stop()
