"""lab.text: what a speaker would read aloud, sentence splitting, and clear rejection of what cannot be spoken."""

from __future__ import annotations

import pytest

from lab import text

NORMALIZED = [
    ("Dr. Smith is here.", "Doctor Smith is here."),
    ("Mr. and Mrs. Brown", "Mister and Missus Brown"),
    ("It costs $5.50 today.", "It costs five dollars and fifty cents today."),
    ("It costs $1.", "It costs one dollar."),
    ("A fee of €20", "A fee of twenty euros"),
    ("Up 15% this year", "Up fifteen percent this year"),
    ("Up 4.5% now", "Up four point five percent now"),
    ("We sold 1,250 tickets", "We sold one thousand, two hundred and fifty tickets"),
    ("She came 2nd and 21st", "She came second and twenty-first"),
    ("Born in 1998 or 2024", "Born in nineteen ninety-eight or twenty twenty-four"),
    ("In 2005", "In two thousand and five"),
    ("At 3:30 or 10:00 or 7:05", "At three thirty or ten o'clock or seven oh five"),
    ("Call before 6 p.m. please", "Call before six PM please"),
    ("The U.S. team", "The U S team"),
    ("Cats vs. dogs, e.g. mine", "Cats versus dogs, for example mine"),
    ("St. Mary lives on Elm St.", "Saint Mary lives on Elm Street"),
    ("No. 7 is mine", "number seven is mine"),
    ("I ran 5 km at -3 degrees", "I ran five kilometers at minus three degrees"),
    ("Salt & pepper", "Salt and pepper"),
    ("Pi is 3.14", "Pi is three point one four"),
    ("Café naïve résumé", "Café naïve résumé"),
    ("Dr. Smith paid $20.50 on 3/4/2021 at 10:30am.",
     "Doctor Smith paid twenty dollars and fifty cents on March fourth, twenty twenty-one at ten thirty AM."),
    ("He gave $1,000,000 to charity", "He gave one million dollars to charity"),
    ("Open 9am to 5:15 PM", "Open nine AM to five fifteen PM"),
    ("Since 2021-03-04", "Since March fourth, twenty twenty-one"),
    ("Not a date: 13/25/2021", "Not a date: thirteen/twenty-five/twenty twenty-one"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZED)
def test_normalize_spells_out_what_is_read_aloud(raw: str, expected: str) -> None:
    assert text.normalize(raw) == expected


SPLITS = [
    ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
    ("Dr. Smith met Mr. Jones. They talked.", ["Doctor Smith met Mister Jones.", "They talked."]),
    ("He said \"stop.\" Then he left.", ["He said \"stop.\"", "Then he left."]),
    ("Wait... what? No!", ["Wait...", "what?", "No!"]),
    ("First paragraph\n\nSecond paragraph", ["First paragraph", "Second paragraph"]),
    ("Pi is 3.14 exactly. Yes.", ["Pi is three point one four exactly.", "Yes."]),
]


@pytest.mark.parametrize(("raw", "expected"), SPLITS)
def test_prepare_splits_into_sentences_in_order(raw: str, expected: list[str]) -> None:
    assert text.prepare(raw).sentences == expected


def test_long_sentence_is_cut_at_clauses_within_limit() -> None:
    sentence = ", ".join(f"item number {i}" for i in range(60)) + "."
    parts = text.split_sentences(text.normalize(sentence), max_chars=120)
    assert len(parts) > 3
    assert all(len(p) <= 120 for p in parts)
    assert " ".join(parts).split() == text.normalize(sentence).split()


@pytest.mark.parametrize(("raw", "script"), [
    ("Привет, как дела?", "Cyrillic"),
    ("你好，世界", "CJK"),
    ("こんにちは", "Hiragana"),
    ("안녕하세요", "Hangul"),
    ("مرحبا بالعالم", "Arabic"),
    ("Hello Γειά σου", "Greek"),
])
def test_unsupported_script_is_rejected_naming_it(raw: str, script: str) -> None:
    with pytest.raises(text.TextError, match=script):
        text.prepare(raw)


@pytest.mark.parametrize(("raw", "message"), [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("x" * 10_000, "10000 characters; the limit is 5000"),
    ("... !!! ???", "nothing to speak"),
    ('<speak>Hello <break time="3s"/> world</speak>', "markup tag \\('<speak>'\\): SSML and HTML are not read"),
    ("Hello <prosody rate=slow>there</prosody>", "markup tag"),
    ('<amazon:effect name="whispered">quiet</amazon:effect>', "markup tag"),
    ("Say <b>bold</b> please.", "markup tag \\('<b>'\\)"),
    ('See <a href="https://example.org">this page</a>.', "markup tag \\('<a href="),
    ("<h2>News</h2> Today it rains.", "markup tag \\('<h2>'\\)"),
])
def test_bad_text_gets_a_clear_message(raw: str, message: str) -> None:
    with pytest.raises(text.TextError, match=message):
        text.prepare(raw)


@pytest.mark.parametrize("raw", ["If a < b and c > d, then x<3.", "Press <Enter> to continue.",
                                 "Use the <name> placeholder.", "If a<b>c then stop."])
def test_angle_brackets_that_are_not_tags_are_spoken(raw: str) -> None:
    assert text.prepare(raw).sentences


def test_emoji_are_dropped_with_a_note() -> None:
    prepared = text.prepare("Great job 👍 everyone!")
    assert prepared.sentences == ["Great job everyone!"]
    assert "👍" in prepared.notes[0]


def test_accented_latin_and_fullwidth_are_accepted() -> None:
    assert text.detect_scripts("Crème brûlée, Ｈｅｌｌｏ") == {"LATIN": 16}
    assert text.prepare("Crème brûlée.").sentences == ["Crème brûlée."]
