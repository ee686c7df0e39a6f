from pipeline.language import LanguageIdentifier, UNDETERMINED, detect_language, length_certainty
from pipeline.record import Document, join_paragraphs

identifier = LanguageIdentifier()

INDONESIAN = (
    "Presiden Rusia Vladimir Putin bertemu dengan Menteri Luar Negeri Korea Utara Choe Son Hui "
    "di Istana Kremlin. Pertemuan itu berlangsung tepat saat Presiden Amerika Serikat melakukan lawatan ke Jepang."
)
ENGLISH = (
    "Indonesia and North Korea agreed to explore a mutually beneficial partnership when their "
    "chief diplomats met in Pyongyang on Saturday."
)


def test_sentences_in_latin_script_languages():
    assert identifier.identify(INDONESIAN).language == "id"
    assert identifier.identify(ENGLISH).language == "en"
    assert identifier.identify("El presidente del gobierno anunció ayer nuevas medidas económicas para el país.").language == "es"


def test_results_repeat_exactly():
    short = "Selamat pagi semua"
    assert {identifier.identify(short) for _ in range(5)} == {identifier.identify(short)}
    assert LanguageIdentifier().identify(short) == identifier.identify(short)


def test_scripts_settle_the_language_without_statistics():
    assert identifier.identify("안녕하세요").language == "ko"
    assert identifier.identify("ภาษาไทยเป็นภาษาราชการ").language == "th"
    assert identifier.identify("これは日本語の文章です。").language == "ja"
    assert identifier.identify("中国北京市东城区草园胡同").language == "zh"
    assert identifier.identify("Η Ελλάδα είναι χώρα").language == "el"
    assert identifier.identify("안녕하세요").confidence == 1.0


def test_no_linguistic_signal_is_undetermined():
    for text in ("", "   ", "12345 +44 7822 014058", "https://example.com/a/b?c=1", "2025-10-27 21:45"):
        guess = identifier.identify(text)
        assert guess.language == UNDETERMINED
        assert guess.confidence == 0.0


def test_short_text_gets_a_guess_with_lower_confidence():
    short = identifier.identify("Selamat pagi")
    long = identifier.identify(INDONESIAN)
    assert short.language != UNDETERMINED
    assert short.confidence < long.confidence
    assert length_certainty("ab") < length_certainty(INDONESIAN)


def test_document_language_is_the_language_of_most_body_text():
    paragraphs = [INDONESIAN] * 4 + ["Disclaimer: This summary was created using Artificial Intelligence (AI)", "中国北京市东城区草园胡同76号"]
    doc = detect_language(Document(source_path="x.txt", text=join_paragraphs(paragraphs)))
    assert doc.language == "id"
    assert 0.5 < doc.language_confidence <= 1.0
    assert [p.language for p in doc.paragraph_languages] == ["id"] * 4 + ["en", "zh"]


def test_english_document_with_address_block_stays_english():
    doc = detect_language(Document(source_path="x.txt", text=join_paragraphs([ENGLISH, ENGLISH, "邮编:100027"])))
    assert doc.language == "en"
    assert doc.paragraph_languages[-1].language == "zh"


def test_rejected_documents_pass_through():
    doc = Document(source_path="x.png").reject("binary_file", "not text")
    assert detect_language(doc) is doc
