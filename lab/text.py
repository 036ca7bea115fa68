"""Text going into speech: checked, spelled out the way a speaker reads it, split into sentences.

TTS engines mispronounce what they were not trained to read ("Dr.", "$5.50",
"1999", "3:30") and stall on unsupported scripts, so every engine gets text
through :func:`prepare`: scripts are checked (Latin, accents included, is
accepted; anything else is rejected naming the script), numbers and common
abbreviations are expanded with num2words, and the result is split into
sentences so long text can be synthesised and streamed one sentence at a time.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass

from num2words import num2words

MAX_CHARS = 5000
MAX_SENTENCE_CHARS = 300
SUPPORTED_SCRIPTS = ("LATIN",)

# Script words as they start Unicode character names, with readable names for messages.
SCRIPT_NAMES = {
    "CJK": "Chinese/Japanese (CJK ideographs)", "HIRAGANA": "Japanese (Hiragana)", "KATAKANA": "Japanese (Katakana)",
    "HANGUL": "Korean (Hangul)", "CYRILLIC": "Cyrillic", "ARABIC": "Arabic", "HEBREW": "Hebrew", "GREEK": "Greek",
    "DEVANAGARI": "Devanagari", "THAI": "Thai", "BENGALI": "Bengali", "TAMIL": "Tamil", "ARMENIAN": "Armenian",
    "GEORGIAN": "Georgian", "ETHIOPIC": "Ethiopic",
}

ABBREVIATIONS = {
    "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miss", "Dr.": "Doctor", "Prof.": "Professor", "Jr.": "Junior",
    "Sr.": "Senior", "Mt.": "Mount", "Ave.": "Avenue", "Rd.": "Road", "Blvd.": "Boulevard", "Inc.": "Incorporated",
    "Ltd.": "Limited", "Co.": "Company", "Corp.": "Corporation", "Dept.": "Department", "Gov.": "Governor",
    "Gen.": "General", "Capt.": "Captain", "Lt.": "Lieutenant", "Sgt.": "Sergeant", "vs.": "versus",
    "etc.": "et cetera",
    "e.g.": "for example", "i.e.": "that is", "approx.": "approximately", "min.": "minutes", "Jan.": "January",
    "Feb.": "February", "Mar.": "March", "Apr.": "April", "Aug.": "August", "Sept.": "September", "Sep.": "September",
    "Oct.": "October", "Nov.": "November", "Dec.": "December",
}
UNITS = {"km": "kilometers", "kg": "kilograms", "cm": "centimeters", "mm": "millimeters", "mph": "miles per hour",
         "km/h": "kilometers per hour", "kb": "kilobytes", "MB": "megabytes", "GB": "gigabytes", "Hz": "hertz",
         "kHz": "kilohertz", "ms": "milliseconds", "lb": "pounds", "lbs": "pounds", "ft": "feet", "m": "meters"}
SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "#": " number "}
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
              "£": ("pound", "pounds", "penny", "pence")}


# A tag of SSML or of the HTML people paste ("<speak>", "</p>", "<break time='3s'/>", "<amazon:effect>"), not
# angle brackets in prose ("a < b", "x<3", "Press <Enter>", "the <name> placeholder").
MARKUP_NAMES = ("speak|break|prosody|emphasis|say-as|phoneme|sub|voice|audio|mark|lang|lexicon|meta|metadata|"
                "p|s|w|par|seq|desc|br|div|span|html|head|body|title|em|strong|ul|ol|li|table|tr|td|th|code|pre|"
                "blockquote|hr|iframe|svg|script|style|img|[a-z]+:[\\w.-]+")
MARKUP_TAG = re.compile(rf"</?(?:{MARKUP_NAMES})(?:\s+[\w:.-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))*\s*/?>",
                        re.IGNORECASE)
# Formatting tags whose names are also ordinary letters ("if a<b>c"): markup only with their closing tag.
PAIRED_TAG = re.compile(r"<(b|i|u|a|h[1-6]|small|sup|font)(?:\s[^<>]*)?>(?=.*?</\1\s*>)", re.IGNORECASE | re.DOTALL)


class TextError(ValueError):
    """Text that cannot be spoken; the message says why and what to change."""


@dataclass(frozen=True)
class PreparedText:
    """Text ready for an engine.

    Attributes:
        original: the text as given (stripped).
        normalized: numbers, abbreviations and symbols spelled out.
        sentences: ``normalized`` split into sentences, in order.
        notes: what was changed that a user might want to know (e.g. dropped emoji).
    """

    original: str
    normalized: str
    sentences: list[str]
    notes: list[str]


def prepare(text: str, max_chars: int = MAX_CHARS) -> PreparedText:
    """Check, normalise and split ``text``.

    Raises:
        TextError: empty, longer than ``max_chars``, nothing speakable, or an unsupported script.
    """
    original = (text or "").strip()
    if not original:
        raise TextError("The text is empty: type something to say.")
    if len(original) > max_chars:
        raise TextError(f"The text has {len(original)} characters; the limit is {max_chars}. "
                        "Split it into shorter parts.")
    markup = MARKUP_TAG.search(original) or PAIRED_TAG.search(original)
    if markup:
        raise TextError(f"The text contains a markup tag ({markup.group(0)[:40]!r}): SSML and HTML are not read "
                        "here and would be spoken aloud. Remove the tags and write out what to say.")
    check_script(original)
    cleaned, notes = _drop_symbols(unicodedata.normalize("NFKC", original))
    normalized = normalize(cleaned)
    sentences = split_sentences(normalized)
    if not sentences:
        raise TextError("The text has nothing to speak (no letters or numbers).")
    return PreparedText(original, normalized, sentences, notes)


def detect_scripts(text: str) -> dict[str, int]:
    """Count letters per Unicode script (first word of the character name, e.g. LATIN, CYRILLIC, CJK)."""
    counts: dict[str, int] = {}
    for ch in unicodedata.normalize("NFKC", text):
        if unicodedata.category(ch).startswith("L"):
            script = unicodedata.name(ch, "UNKNOWN").split()[0]
            script = "LATIN" if script == "MODIFIER" else script
            counts[script] = counts.get(script, 0) + 1
    return counts


def check_script(text: str) -> None:
    """Raise TextError naming the first unsupported script in ``text`` (accented Latin is fine)."""
    bad = {s: n for s, n in detect_scripts(text).items() if s not in SUPPORTED_SCRIPTS}
    if bad:
        script = max(bad, key=bad.get)
        example = next(ch for ch in unicodedata.normalize("NFKC", text)
                       if unicodedata.category(ch).startswith("L") and unicodedata.name(ch, "").startswith(script))
        readable = SCRIPT_NAMES.get(script, script.title())
        raise TextError(f"The text contains {readable} script ({bad[script]} letters, e.g. {example!r}); "
                        "the voices here speak English in Latin script only. Use Latin-script text.")


def normalize(text: str) -> str:
    """Spell out abbreviations, acronyms with dots, currency, percentages, times, ordinals and numbers."""
    for short, long in ABBREVIATIONS.items():
        text = re.sub(rf"(?<![\w.]){re.escape(short)}(?=\s|$|[,;:!?])", long, text)
    text = re.sub(r"\bSt\.(?=\s+[A-Z])", "Saint", text)
    text = re.sub(r"\bSt\.", "Street", text)
    text = re.sub(r"\bNo\.\s*(?=\d)", "number ", text)
    text = re.sub(r"\b([ap])\.\s?m\.(?=\W|$)", lambda m: f"{m.group(1).upper()}M", text, flags=re.IGNORECASE)
    text = re.sub(r"\b(?:[A-Z]\.){2,}", lambda m: " ".join(m.group(0).replace(".", "")) + " ", text)
    text = re.sub(r"\b(\d{4})-(\d{2})-(\d{2})\b", lambda m: _date(m, m.group(1), m.group(2), m.group(3)), text)
    text = re.sub(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b", lambda m: _date(m, m.group(3), m.group(1), m.group(2)), text)
    text = re.sub(r"([$€£])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?", _currency, text)  # before the grouping
    text = re.sub(r"\b\d{1,3}(?:,\d{3})+\b(?!\.\d)", lambda m: num2words(int(m.group(0).replace(",", ""))), text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s?%", lambda m: f"{_number(m.group(1))} percent", text)
    text = re.sub(r"\b(\d{1,2}):(\d{2})\s?([ap])m\b", lambda m: f"{_time(m)} {m.group(3).upper()}M", text,
                  flags=re.IGNORECASE)
    text = re.sub(r"\b(\d{1,2})\s?([ap])m\b", lambda m: f"{num2words(int(m.group(1)))} {m.group(2).upper()}M", text,
                  flags=re.IGNORECASE)
    text = re.sub(r"\b(\d{1,2}):(\d{2})\b", _time, text)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: num2words(int(m.group(1)), to="ordinal"), text)
    units = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
    text = re.sub(rf"(\d+(?:\.\d+)?)\s?({units})\b", lambda m: f"{_number(m.group(1))} {UNITS[m.group(2)]}", text)
    text = re.sub(r"(?<![\w.])-(?=\d)", "minus ", text)
    text = re.sub(r"\b\d+(?:\.\d+)?\b", lambda m: _number(m.group(0), as_year=True), text)
    for symbol, word in SYMBOLS.items():
        text = text.replace(symbol, word)
    return re.sub(r"[ \t]+", " ", text).strip()


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Split normalised text into sentences (at . ! ? … and blank lines); over-long ones at , ; :.

    Args:
        text: normalised text (abbreviation periods already expanded).
        max_chars: sentences longer than this are cut at clause punctuation.

    Returns:
        Non-empty sentences in order, each stripped.
    """
    pieces = re.split(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))\s+|\n\s*\n", text)
    sentences: list[str] = []
    for piece in (p.strip() for p in pieces):
        if not re.search(r"\w", piece or ""):
            continue
        sentences.extend(_split_long(" ".join(piece.split()), max_chars))
    return sentences


def _split_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    parts, current = [], ""
    for clause in re.split(r"(?<=[,;:])\s+|\s+(?=\S)", sentence):
        if current and len(current) + len(clause) + 1 > max_chars:
            parts.append(current)
            current = clause
        else:
            current = f"{current} {clause}".strip()
    return [*parts, current] if current else parts


def _drop_symbols(text: str) -> tuple[str, list[str]]:
    dropped = sorted({ch for ch in text if unicodedata.category(ch) in ("So", "Co", "Cn", "Cs", "Sk")})
    if not dropped:
        return text, []
    return "".join(" " if ch in dropped else ch for ch in text), [f"ignored symbols: {' '.join(dropped)}"]


def _number(token: str, as_year: bool = False) -> str:
    if "." in token:
        return num2words(float(token))
    value = int(token)
    if as_year and len(token) == 4 and 1100 <= value <= 2099 and value % 1000 >= 10:
        return num2words(value, to="year")
    return num2words(value)


def _date(m: re.Match, year: str, month: str, day: str) -> str:
    """'March fourth, twenty twenty-one' (US month/day order for slashes); not a date: left as written."""
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return m.group(0)
    return f"{calendar.month_name[int(month)]} {num2words(int(day), to='ordinal')}, {_number(year, as_year=True)}"


def _currency(m: re.Match) -> str:
    one, many, sub_one, sub_many = CURRENCIES[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    words = f"{num2words(whole)} {one if whole == 1 else many}"
    if m.group(3):
        cents = int(m.group(3).ljust(2, "0"))
        if cents:
            words += f" and {num2words(cents)} {sub_one if cents == 1 else sub_many}"
    return words


def _time(m: re.Match) -> str:
    hours, minutes = int(m.group(1)), int(m.group(2))
    if hours > 24 or minutes > 59:
        return f"{num2words(hours)} {num2words(minutes)}"
    if minutes == 0:
        return f"{num2words(hours)} o'clock"
    return f"{num2words(hours)} {'oh ' if minutes < 10 else ''}{num2words(minutes)}"
