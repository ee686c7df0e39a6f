from __future__ import annotations

import ctranslate2
import pytest

from pipeline.translate.engine import TranslationEngine, engine_for, max_decoding_length
from pipeline.translate.installed_model import InstalledModel
from pipeline.translate.segment import split_long_sentence

SENTENCES = [
    "Presiden Joko Widodo meresmikan jalan tol baru di Jawa Tengah pada hari Senin.",
    "Harga beras naik.",
    "Banjir melanda beberapa desa di Kalimantan Selatan setelah hujan deras.",
    "Tim nasional menang.",
    "Menurut Badan Pusat Statistik, inflasi bulan ini mencapai 2,1 persen.",
    "Warga Jakarta diminta menghemat air selama musim kemarau panjang.",
    "Gunung berapi di Sulawesi Utara kembali mengeluarkan abu vulkanik.",
]


@pytest.fixture
def engine(installed_model: InstalledModel) -> TranslationEngine:
    return engine_for(installed_model)


def test_engines_are_loaded_once_per_package(installed_model: InstalledModel):
    assert engine_for(installed_model) is engine_for(installed_model)


def test_uses_int8_when_the_cpu_supports_it(engine: TranslationEngine):
    if "int8" in ctranslate2.get_supported_compute_types("cpu"):
        assert engine.compute_type == "int8"


def test_translation_is_deterministic(engine: TranslationEngine):
    first = engine.translate_sentences(SENTENCES)
    second = engine.translate_sentences(SENTENCES)

    assert first == second
    assert len(first) == len(SENTENCES)
    assert all(isinstance(t, str) and t.strip() for t in first)
    assert first != SENTENCES


def test_a_batch_equals_sentence_by_sentence(engine: TranslationEngine, installed_model: InstalledModel):
    # SENTENCES mix lengths (9 to 32 pieces), so batches are padded.
    batched = engine.translate_sentences(SENTENCES)
    one_by_one = [engine.translate_sentences([s])[0] for s in SENTENCES]
    assert batched == one_by_one
    small_batches = TranslationEngine(installed_model, max_batch_size=2)
    assert small_batches.translate_sentences(SENTENCES) == batched


def test_results_come_back_in_input_order(engine: TranslationEngine):
    forward = engine.translate_sentences(SENTENCES)
    assert engine.translate_sentences(SENTENCES[::-1]) == forward[::-1]


def test_empty_sentences_pass_through_in_place(engine: TranslationEngine):
    result = engine.translate_sentences(["", SENTENCES[1], "  \n", SENTENCES[3]])
    expected = engine.translate_sentences([SENTENCES[1], SENTENCES[3]])
    assert result == ["", expected[0], "  \n", expected[1]]
    assert engine.translate_sentences([]) == []


def test_an_overlong_sentence_is_translated_in_clause_pieces(installed_model: InstalledModel):
    engine = TranslationEngine(installed_model, max_input_tokens=25)
    long_sentence = ", ".join(s.rstrip(".") for s in SENTENCES) + "."
    pieces = split_long_sentence(long_sentence, engine.count_tokens, 25)
    assert len(pieces) > 1

    (translation,) = engine.translate_sentences([long_sentence])

    whole = TranslationEngine(installed_model, max_input_tokens=10_000)
    assert translation == " ".join(whole.translate_sentences([p.strip() for p in pieces]))


def test_decoding_is_bounded_relative_to_the_input():
    assert max_decoding_length(10) < max_decoding_length(40) <= 400
    assert max_decoding_length(10) >= 1.5 * 10 and max_decoding_length(10) % 16 == 0
    assert max_decoding_length(1000) == 400
