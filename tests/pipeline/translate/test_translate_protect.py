from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipeline.translate.translate_samples import RU_SENTENCE, SEED_004_SENTENCES, WRITTEN_SENTENCES

from pipeline.translate.engine import TranslationEngine, engine_for
from pipeline.translate.packages import install_package_file
from pipeline.translate.protect import (
    EMAIL,
    NAME,
    NUMBER,
    URL,
    cut_around,
    is_latin_script,
    lost_items,
    protected_spans,
    translate_protected,
)


def spans_of(sentence: str) -> list[tuple[str, str]]:
    return [(span.kind, span.text(sentence)) for span in protected_spans(sentence)]


def test_spans_in_real_sentences():
    assert spans_of(SEED_004_SENTENCES[0])[-1] == (NUMBER, "27/10/2025")
    assert spans_of(SEED_004_SENTENCES[2]) == [(NUMBER, "28"), (NUMBER, "2025"), (NUMBER, "21:45")]
    assert spans_of(WRITTEN_SENTENCES[0]) == [(NUMBER, "2,1")]
    assert spans_of(WRITTEN_SENTENCES[1]) == [
        (URL, "https://www.idntimes.com/news/world/putin-bertemu-choe-00-abc123"),  # digits inside stay in the URL
        (EMAIL, "redaksi@idntimes.com"),  # the sentence's final period is not part of it
    ]
    assert spans_of("Source: https://jakartaglobe.id/news/x.") == [(URL, "https://jakartaglobe.id/news/x")]


def test_latin_names_are_protected_only_in_text_of_another_script():
    assert spans_of(RU_SENTENCE) == [(NAME, "Donald Trump"), (NUMBER, "27")]
    assert spans_of("Presiden AS Donald Trump tiba.") == []  # "Presiden" must be translated: no guessing
    assert is_latin_script("Presiden Rusia") and not is_latin_script(RU_SENTENCE) and is_latin_script("2025")


@pytest.mark.parametrize(
    ("translation", "lost"),
    [
        ("Price rose to Rp 2.1 million on 27/10/2025.", []),  # decimal comma -> point keeps the digits
        ("Price rose to Rp 2,1 million on 27 Oct 2025.", ["27/10/2025"]),
        ("Price rose to Rp 21 million on 27/10/2025.", ["2,1"]),
        ("Price rose.", ["2,1", "27/10/2025"]),
    ],
)
def test_lost_items_compares_digit_groups(translation: str, lost: list[str]):
    assert lost_items("Harga naik menjadi Rp 2,1 juta pada 27/10/2025.", translation) == lost


def test_a_repeated_number_must_survive_as_often():
    assert lost_items("Skor 2-2, lalu 2-2 lagi.", "Score 2-2, then again.") == ["2-2"]


def test_cut_around_is_lossless_and_keeps_letterless_text_verbatim():
    sentence = SEED_004_SENTENCES[0]
    segments = cut_around(sentence, protected_spans(sentence))
    assert "".join(s.text for s in segments) == sentence
    assert [(s.text, s.translate) for s in segments[-2:]] == [("27/10/2025", False), (").", False)]


@pytest.fixture
def garbled(dictionary_packages: dict[str, Path]) -> TranslationEngine:
    return engine_for(install_package_file(dictionary_packages["id_en_garbled"]))


@pytest.fixture
def faithful(dictionary_packages: dict[str, Path]) -> TranslationEngine:
    return engine_for(install_package_file(dictionary_packages["id_en"]))


EXPECTED = [
    "Jakarta, IDN Times - President Russia Vladimir Putin met with Minister Foreign Affairs Korea North "
    "Choe Son Hui at Palace Kremlin, Tuesday (27/10/2025).",
    "In meeting that, Putin stated that relations between Russia and Korea North developed according plan.",
    "28 Oct 2025, 21:45 WIB",
    "Price ticket rose to Rp 2,1 million, said the spokesperson to reporters.",
    "Read more at https://www.idntimes.com/news/world/putin-bertemu-choe-00-abc123 or send email to redaksi@idntimes.com.",
]


def test_a_faithful_model_keeps_everything_on_real_sentences(faithful: TranslationEngine):
    assert translate_protected(SEED_004_SENTENCES + WRITTEN_SENTENCES, faithful.translate_sentences) == EXPECTED


def test_numbers_dates_urls_and_emails_survive_a_model_that_garbles_them(garbled: TranslationEngine):
    sentences = SEED_004_SENTENCES + WRITTEN_SENTENCES
    unprotected = garbled.translate_sentences(sentences)
    assert "27/10/2025" not in unprotected[0] and "2,1" not in unprotected[3]  # the model's fault is real

    calls_before = garbled.calls
    protected = translate_protected(sentences, garbled.translate_sentences)

    # Where the garbled model lost an item, the text around the item was translated in pieces
    # and the item put back; here that gives exactly what the faithful model gives.
    assert protected == EXPECTED
    assert garbled.calls - calls_before == 2  # one batch for all sentences, one for every retry


def test_a_latin_name_survives_a_model_that_transliterates_it(dictionary_packages: dict[str, Path]):
    engine = engine_for(install_package_file(dictionary_packages["ru_en_garbled"]))
    assert "Tramp" in engine.translate_sentences([RU_SENTENCE])[0]

    (translation,) = translate_protected([RU_SENTENCE], engine.translate_sentences)

    assert translation == "President Russia met with Donald Trump in Kremlin 27 october."


def test_sentences_without_letters_never_reach_the_model(faithful: TranslationEngine):
    calls_before = faithful.calls
    assert translate_protected(["2025", "https://idntimes.com", "21:45 —"], faithful.translate_sentences) == [
        "2025",
        "https://idntimes.com",
        "21:45 —",
    ]
    assert faithful.calls == calls_before
