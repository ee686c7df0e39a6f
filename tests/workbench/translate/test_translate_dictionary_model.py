"""The hand-built dictionary transformer really translates word by word through CTranslate2."""

from __future__ import annotations

import hashlib
from pathlib import Path

import sentencepiece as spm

from pipeline.translate.engine import engine_for
from pipeline.translate.packages import install_package_file
from workbench.translate.dictionary_model import build_dictionary_package, sentencepiece_model, word_pieces

from tests.pipeline.translate.translate_samples import DICTIONARY_CORPUS, ID_EN, SEED_004_SENTENCES


def test_the_hand_written_sentencepiece_model_keeps_known_words_whole_and_spells_the_rest():
    processor = spm.SentencePieceProcessor(model_proto=sentencepiece_model(word_pieces(["Presiden bertemu"], {})))
    pieces = processor.encode("Presiden Xavier bertemu (27/10).", out_type=str)

    assert pieces[0] == "\u2581Presiden" and "\u2581bertemu" in pieces
    assert "\u2581Xavier" not in pieces  # not in the corpus: spelt out
    assert processor.decode(pieces) == "Presiden Xavier bertemu (27/10)."


def test_it_translates_a_real_sentence_word_by_word(dictionary_packages: dict[str, Path]):
    engine = engine_for(install_package_file(dictionary_packages["id_en"]))

    (translation,) = engine.translate_sentences([SEED_004_SENTENCES[0]])

    assert translation == (
        "Jakarta, IDN Times - President Russia Vladimir Putin met with Minister Foreign Affairs "
        "Korea North Choe Son Hui at Palace Kremlin, Tuesday (27/10/2025)."
    )


def test_the_garbled_variant_loses_digits_and_urls(dictionary_packages: dict[str, Path]):
    engine = engine_for(install_package_file(dictionary_packages["id_en_garbled"]))

    date, url = engine.translate_sentences(["Selasa (27/10/2025).", "https://www.idntimes.com/news"])

    assert date == "Tuesday (51/78/5853)."
    assert url == "http://www.times.com/news"


def test_the_build_is_deterministic(tmp_path: Path, dictionary_packages: dict[str, Path]):
    again = build_dictionary_package(tmp_path / "again.argosmodel", ID_EN, DICTIONARY_CORPUS, package_version="1.9")
    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
    assert digest(again) == digest(dictionary_packages["id_en"])
