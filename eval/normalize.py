"""English text normalisation before WER: Whisper's rules, so scores compare with published ones.

The rules are transformers' ``EnglishTextNormalizer`` (the Whisper evaluation
normaliser: case, punctuation, contractions, titles, spelled-out numbers and
currencies to digits, fillers removed). Its British->American spelling table
is not part of transformers (it ships with hub tokenizers), so it is read from
the ``whisper-normalizer`` package, which carries the same ``english.json``.

One extension: the Whisper rules leave lone punctuation tokens behind in a few
cases ("Hello..." -> "hello .", "uh, um..." -> "."), which would count as
inserted words. Tokens without a letter or digit are dropped.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Callable


@functools.cache
def _normalizer() -> Callable[[str], str]:
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    table = importlib.resources.files("whisper_normalizer") / "normalizers" / "english.json"
    return EnglishTextNormalizer(json.loads(table.read_text(encoding="utf-8")))


def normalize_text(text: str) -> str:
    """Normalise English text the Whisper way for scoring.

    "Mr. Smith paid $20 for colour prints" and "mister smith paid twenty
    dollars for color prints" both become "mister smith paid $20 for color prints".

    Args:
        text: any English text (transcript or expected text).

    Returns:
        Lower-case words separated by single spaces (may be empty).
    """
    return " ".join(word for word in _normalizer()(text).split() if any(ch.isalnum() for ch in word))
