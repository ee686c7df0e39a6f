from __future__ import annotations

from pathlib import Path

from tests.pipeline.translate.translate_samples import MS_SENTENCE, SEED_004_SENTENCES, WRITTEN_SENTENCES

from pipeline.record import Document, ParagraphLanguage
from workbench.translate.build_package import build_tiny_package
from pipeline.translate.engine import engine_for
from pipeline.translate.installed_model import InstalledModel
from pipeline.translate.packages import install_package_file, list_installed_packages
from pipeline.translate.segment import split_sentences
from pipeline.translate.stage import find_route, missing_model_languages, translate_documents

ID_1 = "Presiden meresmikan jalan tol baru. Warga menyambut gembira."
EN_2 = "The president said the road would open next week. Traffic is expected to ease."
ID_3 = "Harga beras naik sejak awal bulan."


def doc(path: str, language: str | None, paragraphs: list[str], paragraph_languages: list[str] | None = None) -> Document:
    return Document(
        source_path=path,
        text="\n\n".join(paragraphs),
        language=language,
        language_confidence=0.99,
        paragraph_languages=tuple(ParagraphLanguage(lang, 0.9) for lang in (paragraph_languages or [])),
    )


def expected_translation(model: InstalledModel, paragraph: str) -> str:
    sentences = split_sentences(paragraph, "id")
    translations = engine_for(model).translate_sentences([s.strip() for s in sentences])
    return "".join(t + s[len(s.rstrip()) :] for t, s in zip(translations, sentences)).strip()


def test_english_and_undetermined_documents_need_no_translation():
    english = doc("en.txt", "en", [EN_2])
    unknown = doc("und.txt", "und", ["12345"])
    no_language = doc("none.txt", None, ["???"])

    results = translate_documents([english, unknown, no_language], models=[])

    for before, after in zip([english, unknown, no_language], results):
        assert after.text_en == before.text
        assert after.translation_status == "not_needed"
        assert after.translation_model is None


def test_rejected_documents_pass_through_untouched():
    rejected = doc("bad.bin", "id", [ID_1]).reject("binary_file", "not text")
    assert translate_documents([rejected], models=[])[0] is rejected


def test_a_document_without_a_model_is_marked_missing_model():
    french = doc("fr.txt", "fr", ["Le président a inauguré une route."])
    indonesian = doc("id.txt", "id", [ID_1])

    results = translate_documents([french, indonesian, french], models=[])

    assert [d.translation_status for d in results] == ["missing_model"] * 3
    assert all(d.text_en is None and d.translation_model is None for d in results)
    assert missing_model_languages(results) == {"fr": 2, "id": 1}


def test_an_indonesian_document_is_translated_paragraph_by_paragraph(installed_model: InstalledModel):
    source = doc("id.txt", "id", [ID_1, EN_2, ID_3], ["id", "en", "id"])

    (result,) = translate_documents([source])

    assert result.translation_status == "translated"
    assert result.translation_model == "translate-id_en 1.9"
    paragraphs = result.text_en.split("\n\n")
    assert len(paragraphs) == len(source.paragraphs) == 3
    assert paragraphs[1] == EN_2  # English inside an Indonesian document passes through untouched
    assert paragraphs[0] == expected_translation(installed_model, ID_1)
    assert paragraphs[2] == expected_translation(installed_model, ID_3)
    assert paragraphs[0] != ID_1
    assert result.text == source.text
    assert missing_model_languages([result]) == {}


def test_without_aligned_paragraph_languages_every_paragraph_is_translated(installed_model: InstalledModel):
    source = doc("id.txt", "id", [ID_1, ID_3], ["id"])  # one language for two paragraphs: not aligned
    (result,) = translate_documents([source])
    assert result.text_en.split("\n\n") == [expected_translation(installed_model, p) for p in (ID_1, ID_3)]


def test_batching_across_documents_gives_what_one_document_at_a_time_gives(installed_model: InstalledModel):
    docs = [
        doc("a.txt", "id", [ID_1, ID_3]),
        doc("b.txt", "en", [EN_2]),
        doc("c.txt", "id", [ID_3, EN_2], ["id", "en"]),
        doc("d.txt", "fr", ["Bonjour."]),
    ]
    together = translate_documents(docs, models=[installed_model])
    alone = [translate_documents([d], models=[installed_model])[0] for d in docs]

    assert together == alone
    assert [d.translation_status for d in together] == ["translated", "not_needed", "translated", "missing_model"]


def test_the_newest_installed_version_is_used(installed_model: InstalledModel, tmp_path: Path):
    older = InstalledModel("id", "en", "translate-id_en", "1.0", tmp_path / "nowhere")
    (result,) = translate_documents([doc("id.txt", "id", [ID_3])], models=[older, installed_model])
    assert result.translation_model == "translate-id_en 1.9"


def test_a_broken_model_marks_documents_failed_without_raising(tiny_package: Path, packages_dir: Path):
    model = install_package_file(tiny_package)
    (model.path / "model" / "model.bin").write_bytes(b"not a model")
    english = doc("en.txt", "en", [EN_2])

    results = translate_documents([doc("id.txt", "id", [ID_1]), english])

    assert results[0].translation_status == "failed"
    assert results[0].text_en is None and results[0].translation_model is None
    assert results[1].translation_status == "not_needed" and results[1].translation_failure is None
    failure = results[0].translation_failure
    assert failure.model == model.label
    assert failure.reason.startswith(f"{model.label} does not load") and "newsflow models install id" in failure.reason, failure


# --- with the word-by-word dictionary models: outputs that mean something -----------------

SEED_000_ENGLISH = (
    '"Both sides agreed to explore new and mutually beneficial areas of collaboration," '
    "a press statement by the Indonesian Foreign Ministry reads."
)


def test_english_paragraphs_inside_an_indonesian_article_pass_through_untouched(dictionary_packages):
    install_package_file(dictionary_packages["id_en"])
    source = doc(
        "mixed.txt",
        "id",
        [SEED_004_SENTENCES[0], SEED_000_ENGLISH, WRITTEN_SENTENCES[0]],
        ["id", "en", "id"],
    )

    (result,) = translate_documents([source])

    assert result.text_en.split("\n\n") == [
        "Jakarta, IDN Times - President Russia Vladimir Putin met with Minister Foreign Affairs Korea North "
        "Choe Son Hui at Palace Kremlin, Tuesday (27/10/2025).",
        SEED_000_ENGLISH,
        "Price ticket rose to Rp 2,1 million, said the spokesperson to reporters.",
    ]


def test_sentences_and_their_spacing_are_rebuilt_in_place(dictionary_packages):
    install_package_file(dictionary_packages["id_en"])
    paragraph = "Harga tiket naik.  Presiden bertemu wartawan!\nBaca selengkapnya."
    (result,) = translate_documents([doc("p.txt", "id", [paragraph, "Selasa (27/10/2025)."])])
    assert result.text_en == "Price ticket rose.  President met reporters!\nRead more.\n\nTuesday (27/10/2025)."


def test_without_a_direct_model_a_pivot_is_used(dictionary_packages):
    install_package_file(dictionary_packages["ms_id"])
    install_package_file(dictionary_packages["id_en"])

    (result,) = translate_documents([doc("ms.txt", "ms", [MS_SENTENCE])])

    assert result.translation_status == "translated"
    assert result.translation_model == "translate-ms_id 1.0 + translate-id_en 1.9"
    # ms -> id: Kerajaan -> Pemerintah, berjumpa -> bertemu, semalam -> kemarin; then id -> en.
    assert result.text_en == "Government Russia met with President Korea North yesterday."


def test_a_direct_model_wins_over_a_pivot(dictionary_packages, installed_model: InstalledModel, tmp_path: Path):
    pivot_half = install_package_file(dictionary_packages["ms_id"])
    direct = install_package_file(build_tiny_package(tmp_path, from_code="ms"))
    models = list_installed_packages()
    assert find_route(models, "ms").models == (direct,)
    assert find_route([pivot_half, installed_model], "ms").label == "translate-ms_id 1.0 + translate-id_en 1.9"
    assert find_route([pivot_half], "ms") is None
    assert find_route(models, "fr") is None


def test_half_a_pivot_is_a_missing_model(dictionary_packages):
    install_package_file(dictionary_packages["ms_id"])
    (result,) = translate_documents([doc("ms.txt", "ms", [MS_SENTENCE])])
    assert (result.translation_status, result.text_en, result.translation_model) == ("missing_model", None, None)
    assert missing_model_languages([result]) == {"ms": 1}


def test_the_title_is_translated_with_the_text_and_english_titles_stay(dictionary_packages):
    install_package_file(dictionary_packages["id_en"])
    indonesian = doc("t.txt", "id", ["Harga tiket naik."]).replace(title="Presiden bertemu wartawan")
    english = doc("e.txt", "en", [EN_2]).replace(title="Road opens")
    untitled = doc("u.txt", "id", ["Harga tiket naik."])
    translated, kept, none = translate_documents([indonesian, english, untitled])
    assert translated.title_en == "President met reporters" and translated.title == "Presiden bertemu wartawan"
    assert kept.title_en == "Road opens"
    assert none.title_en is None
    (missing,) = translate_documents([doc("f.txt", "fr", ["Bonjour."]).replace(title="Le titre")], models=[])
    assert missing.title_en is None
def test_a_malay_document_without_a_malay_model_is_read_by_the_indonesian_one(dictionary_packages):
    install_package_file(dictionary_packages["id_en"])

    (result,) = translate_documents([doc("ms.txt", "ms", [SEED_004_SENTENCES[0]])])

    assert result.translation_status == "translated"
    assert result.translation_model == "translate-id_en 1.9 (ms read as id)"
    assert result.text_en.startswith("Jakarta, IDN Times - President Russia Vladimir Putin met with")
    assert missing_model_languages([result]) == {}


def test_a_malay_paragraph_inside_an_indonesian_article_is_translated_with_it(dictionary_packages):
    install_package_file(dictionary_packages["id_en"])
    source = doc("mixed.txt", "id", [SEED_004_SENTENCES[0], WRITTEN_SENTENCES[0]], ["id", "ms"])

    (result,) = translate_documents([source])

    assert (result.translation_status, result.translation_model) == ("translated", "translate-id_en 1.9")
    assert result.text_en.split("\n\n")[1] == "Price ticket rose to Rp 2,1 million, said the spokesperson to reporters."


def test_a_related_language_stands_in_only_when_the_language_has_no_route_of_its_own(
    dictionary_packages, installed_model: InstalledModel
):
    pivot_half = install_package_file(dictionary_packages["ms_id"])
    assert find_route([pivot_half, installed_model], "ms").label == "translate-ms_id 1.0 + translate-id_en 1.9"
    assert find_route([installed_model], "ms").label == "translate-id_en 1.9 (ms read as id)"
    assert find_route([installed_model], "ms").models == (installed_model,)
    assert find_route([installed_model], "id").read_as is None
    assert find_route([installed_model], "fr") is None
    assert find_route([pivot_half], "ms", target="id").label == "translate-ms_id 1.0"
