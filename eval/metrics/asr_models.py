"""ASR models for WER/CER: Whisper through faster-whisper (embedded) or transformers (hub).

Every wrapper exposes ``transcribe(audio) -> str`` (English; beam search for
CTranslate2, the checkpoint's generation config for transformers). The
loaders are registry loaders (lab.models SPECS), called as ``loader(path, spec)``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eval.metrics.core import cpu_threads
from lab.audio import Audio
from lab.models import ModelSpec, ModelUnavailable

log = logging.getLogger(__name__)

ASR_RATE = 16000
BEAM_SIZE = 5
WINDOW_SECONDS = 30.0  # one Whisper input window
DECODE_BATCH = 8  # clips whose beam searches run together
MAX_NEW_TOKENS = 444  # Whisper's 448-token limit minus the prompt
TOKENS_PER_SECOND = 10  # generous: fast speech is about 5 tokens/s
NO_SPEECH_PROB, NO_SPEECH_LOGPROB = 0.6, -1.0  # faster-whisper's defaults
# SHA-256 of whisper-base-ct2's model.bin after concatenating part1 + part2 (computed once, 2026-11-22).
ASSEMBLED_SHA256 = {"whisper-base-ct2": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"}
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def cache_root() -> Path:
    """Folder for files Voice Lab derives from packages (``$VOICELAB_CACHE`` or ~/.cache/voicelab)."""
    return Path(os.environ.get("VOICELAB_CACHE", Path.home() / ".cache" / "voicelab"))


class FasterWhisperASR:
    """Whisper in CTranslate2 format (float32 on CPU), loaded through faster-whisper.

    float32, not int8: CTranslate2's int8 path gives different transcripts with 1 and 2
    threads (so WER would depend on --workers and on the machine); float32 gives the same
    transcript for 1, 2 and 4 threads at about the same CPU time for this model size.

    Clips up to 30 s (one Whisper window) are decoded in one pass without timestamps:
    each clip's window is encoded on its own, then the beam searches of up to
    DECODE_BATCH clips run together. The decoder is memory-bound on a CPU, so one
    pass over its weights serving several clips saves time; encoding stays per clip
    because batched encoding is slower here. A clip's transcript does not depend on
    the clips batched with it (checked in the tests). Longer clips go through
    faster-whisper's long-form transcription.
    """

    def __init__(self, model_dir: Path) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="float32", cpu_threads=cpu_threads())
        whisper = self.model.model
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, whisper.is_multilingual, task="transcribe", language="en")
        self.prompt = [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]

    def transcribe(self, audio: Audio) -> str:
        """English transcript of ``audio`` (any rate; resampled to 16 kHz); see :meth:`transcribe_many`."""
        return self.transcribe_many([audio])[0]

    def transcribe_many(self, audios: Sequence[Audio]) -> list[str]:
        """English transcripts of several clips, the decoding of short clips batched.

        Args:
            audios: speech, any rates and lengths.

        Returns:
            One transcript per clip (empty when Whisper hears no speech), in order.
        """
        texts = [""] * len(audios)
        encoded: list[tuple[int, np.ndarray, float]] = []
        for i, audio in enumerate(audios):
            samples = audio.resample(ASR_RATE).samples
            if len(samples) > WINDOW_SECONDS * ASR_RATE:
                texts[i] = self._long_form(samples)
            else:
                encoded.append((i, self._encode(samples), len(samples) / ASR_RATE))
        for start in range(0, len(encoded), DECODE_BATCH):
            batch = encoded[start:start + DECODE_BATCH]
            for (i, _, _), text in zip(batch, self._decode(batch), strict=True):
                texts[i] = text
        return texts

    def _encode(self, samples: np.ndarray) -> np.ndarray:
        """Encoder output (1, frames, width) of one clip's 30 s window."""
        import ctranslate2
        from faster_whisper.audio import pad_or_trim

        features = pad_or_trim(self.model.feature_extractor(samples))
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32))
        return np.asarray(self.model.model.encode(view, to_cpu=True))

    def _decode(self, batch: list[tuple[int, np.ndarray, float]]) -> list[str]:
        """Beam-search transcripts of encoded clips, decoded together."""
        import ctranslate2

        longest = max(seconds for _, _, seconds in batch)
        # A hallucination loop cannot run past what speech of this length could hold.
        max_length = len(self.prompt) + min(MAX_NEW_TOKENS, int(TOKENS_PER_SECOND * longest) + 20)
        stacked = ctranslate2.StorageView.from_array(np.concatenate([enc for _, enc, _ in batch]))
        results = self.model.model.generate(
            stacked, [self.prompt] * len(batch), beam_size=BEAM_SIZE, max_length=max_length,
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1])
        texts = []
        for result in results:
            # faster-whisper's rule for a window with no speech: likely silence and an unsure decode.
            silent = result.no_speech_prob > NO_SPEECH_PROB and result.scores[0] < NO_SPEECH_LOGPROB
            tokens = [t for t in result.sequences_ids[0] if t < self.tokenizer.eot]
            texts.append("" if silent else self.tokenizer.decode(tokens).strip())
        return texts

    def _long_form(self, samples: np.ndarray) -> str:
        """Transcript of a clip longer than one window, decoded window by window by faster-whisper."""
        segments, _info = self.model.transcribe(
            samples, language="en", beam_size=BEAM_SIZE, condition_on_previous_text=False, vad_filter=False)
        return " ".join(s.text.strip() for s in segments).strip()


class TransformersWhisperASR:
    """Whisper through transformers (``WhisperForConditionalGeneration`` + ``WhisperProcessor``), fp16 on a GPU."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.processor = WhisperProcessor.from_pretrained(model_dir)
        self.model = WhisperForConditionalGeneration.from_pretrained(model_dir, dtype=dtype).to(self.device).eval()

    def transcribe(self, audio: Audio) -> str:
        """English transcript of ``audio`` (any rate; resampled to 16 kHz; > 30 s decoded long-form).

        Returns:
            The decoded text without special tokens.
        """
        import torch

        samples = audio.resample(ASR_RATE).samples
        long_form = audio.duration > 30.0
        features = self.processor(
            samples, sampling_rate=ASR_RATE, return_tensors="pt", return_attention_mask=True,
            **({"truncation": False, "padding": "longest"} if long_form else {}))
        kwargs = {"attention_mask": features.attention_mask.to(self.device)}
        if getattr(self.model.generation_config, "is_multilingual", False):
            kwargs.update(language="en", task="transcribe")
        with torch.inference_mode():
            ids = self.model.generate(features.input_features.to(self.device, self.model.dtype), **kwargs)
        return self.processor.batch_decode(ids, skip_special_tokens=True)[0].strip()

    def transcribe_many(self, audios: Sequence[Audio]) -> list[str]:
        """Transcripts of several clips, one clip at a time."""
        return [self.transcribe(audio) for audio in audios]


def load_ctranslate2(path: Path | None, spec: ModelSpec) -> FasterWhisperASR:
    """Registry loader: a CTranslate2 Whisper whose files sit together in one package folder."""
    model_bin = next(rel for rel in spec.files if rel.endswith("model.bin"))
    return FasterWhisperASR(_require(path, spec) / Path(model_bin).parent)


def load_ctranslate2_parts(path: Path | None, spec: ModelSpec) -> FasterWhisperASR:
    """Registry loader: a CTranslate2 Whisper whose model.bin ships in parts (``model.bin.partN``).

    The parts are concatenated once into ``cache_root()/<name>/model.bin``, the
    assembled file is checked against ASSEMBLED_SHA256, and the side files
    (config, tokenizer, vocabulary) are copied next to it.

    Raises:
        ModelUnavailable: the assembled file has the wrong checksum.
    """
    root = _require(path, spec)
    parts = sorted((rel for rel in spec.files if ".bin.part" in rel), key=lambda rel: int(rel.rsplit("part", 1)[1]))
    target = cache_root() / spec.name
    target.mkdir(parents=True, exist_ok=True)
    expected = ASSEMBLED_SHA256[spec.name]
    model_bin = target / "model.bin"
    if not model_bin.is_file() or _sha256(model_bin) != expected:
        _assemble([root / rel for rel in parts], model_bin, expected, spec.name)
    for rel in spec.files:
        if Path(rel).name in _SIDE_FILES and not (target / Path(rel).name).is_file():
            shutil.copyfile(root / rel, target / Path(rel).name)
    return FasterWhisperASR(target)


def load_transformers(path: Path | None, spec: ModelSpec) -> TransformersWhisperASR:
    """Registry loader: a transformers Whisper checkpoint folder (config, weights, processor files)."""
    return TransformersWhisperASR(_require(path, spec))


def _require(path: Path | None, spec: ModelSpec) -> Path:
    if path is None:
        raise ModelUnavailable(f"{spec.name}: no local folder to load from")
    return path


def _assemble(parts: list[Path], target: Path, expected: str, name: str) -> None:
    """Concatenate ``parts`` into ``target`` atomically (temp file + rename) after checking its SHA-256."""
    log.info("assembling %s model.bin from %d parts into %s", name, len(parts), target)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".tmp") as out:
        for part in parts:
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    actual = _sha256(Path(out.name))
    if actual != expected:
        os.unlink(out.name)
        raise ModelUnavailable(f"{name}: the assembled model.bin has SHA-256 {actual[:12]}…, expected "
                               f"{expected[:12]}…; fix: pip install --force-reinstall -r requirements.txt")
    os.replace(out.name, target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
