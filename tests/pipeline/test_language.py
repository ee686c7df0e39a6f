from pipeline import language
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


MALAY = (
    "Kementerian Kesihatan memaklumkan bahawa jumlah pesakit yang dimasukkan ke hospital "
    "menurun sejak minggu lalu kerana kempen vaksinasi yang dijalankan oleh kerajaan."
)
INDONESIAN_NEWS = (
    "Kementerian Kesehatan menyebutkan jumlah pasien yang dirawat di rumah sakit menurun "
    "sejak pekan lalu karena kampanye vaksinasi yang dijalankan pemerintah."
)


def test_malay_is_told_from_indonesian():
    assert identifier.identify(MALAY).language == "ms"
    assert identifier.identify(INDONESIAN_NEWS).language == "id"
    assert identifier.identify(INDONESIAN).language == "id"


def test_malay_document_pools_the_words_of_all_its_paragraphs():
    # no paragraph alone says Malay for sure; together, the document does
    paragraphs = [
        "Beliau berkata bahawa rundingan akan diteruskan minggu depan.",
        "Orang ramai diminta bersabar kerana kerja pembaikan masih berjalan.",
        "Pihak berkuasa tempatan akan mengumumkan jadual baharu tidak lama lagi.",
    ]
    doc = detect_language(Document(source_path="x.txt", text=join_paragraphs(paragraphs)))
    assert doc.language == "ms"
    assert [p.language for p in doc.paragraph_languages] == ["ms"] * 3


MALAY_PARAGRAPHS = [
    "Beliau berkata bahawa rundingan akan diteruskan minggu depan.",
    "Pihak berkuasa tempatan akan mengumumkan jadual baharu tidak lama lagi.",
]
INDONESIAN_PARAGRAPHS = [
    "Pemerintah akan memberikan bantuan kepada warga yang terdampak banjir.",
    "Polisi menahan tiga orang pria yang diduga terlibat dalam kasus tersebut.",
]
NO_EVIDENCE = "Semua orang pulang ke rumah."  # words Malay and Indonesian write about as often


def test_a_sentence_with_no_evidence_either_way_takes_its_documents_language_as_a_close_call():
    alone = identifier.identify(NO_EVIDENCE)
    assert alone.language == "id" and alone.confidence < 0.85  # alone, only the news prior speaks (4:1)
    for paragraphs, expected in ((MALAY_PARAGRAPHS, "ms"), (INDONESIAN_PARAGRAPHS, "id")):
        document, labels = identifier.identify_paragraphs((*paragraphs, NO_EVIDENCE))
        assert document.language == expected
        assert [label.language for label in labels] == [expected] * 3
        assert 0.5 < labels[-1].confidence < 0.8  # inherited, and it says so
        assert min(label.confidence for label in labels[:2]) > labels[-1].confidence


def test_a_clearly_indonesian_sentence_in_a_malay_document_keeps_its_own_language():
    paragraphs = (*MALAY_PARAGRAPHS, MALAY, "Polisi menahan tiga orang pria.")
    document, labels = identifier.identify_paragraphs(paragraphs)
    assert document.language == "ms"
    assert [label.language for label in labels] == ["ms", "ms", "ms", "id"]


def test_the_documents_language_comes_from_all_its_text():
    # one clearly Malay paragraph outweighs two that lean Indonesian only slightly
    slight = ("Harga beras naik sejak awal bulan.", "Hujan turun sepanjang hari di ibu kota.")
    assert {identifier.identify(text).language for text in slight} == {"id"}
    document, labels = identifier.identify_paragraphs((*slight, MALAY))
    assert document.language == "ms"
    assert [label.language for label in labels] == ["ms", "ms", "ms"]


def test_two_words_are_malay_only_on_clear_evidence():
    # Indonesian is the likelier of the two in news: two words both languages write stay Indonesian,
    # two words only Malay writes are Malay ("tidak boleh" is not both: Malay writes "boleh" 40 times
    # as often, in wordfreq's lists)
    for text in ("tidak ada", "Selamat pagi"):
        assert identifier.identify(text).language == "id", text
    for text in ("pihak berkuasa", "beliau berkata", "kerana kerajaan"):
        assert identifier.identify(text).language == "ms", text
    assert identifier.identify("Selamat pagi").confidence < identifier.identify("pemerintah Indonesia").confidence


def test_the_malay_indonesian_model_reads_words_and_their_letters():
    model = language.MalayIndonesianModel.load()
    assert len(model.weights) > 10_000
    assert model.malay_log_odds("kerajaan bahawa") > 2 > -2 > model.malay_log_odds("pemerintah bahwa")
    assert model.malay_log_odds("") == 0.0
    assert {"w polis", "p menahan tiga", "c pol"} <= language.malay_indonesian_features("Polis menahan tiga")


def test_probabilities_sum_to_at_most_one_and_favour_the_answer():
    probabilities = identifier.probabilities(ENGLISH)
    assert max(probabilities, key=probabilities.get) == "en"
    assert 0.99 <= sum(probabilities.values()) <= 1.0 + 1e-9
    assert identifier.probabilities("https://example.com") == {}


def test_two_word_fragments_get_a_language_and_an_honest_confidence():
    for text, language in (("the government", "en"), ("η κυβέρνηση", "el"), ("chính phủ", "vi"), ("rząd zapowiedział", "pl")):
        guess = identifier.identify(text)
        assert guess.language == language, text
    fragment = identifier.identify("available period")
    assert 0.0 < fragment.confidence < 0.9  # a guess, and it says so
    assert identifier.identify(ENGLISH).confidence > 0.99


def test_handles_addresses_and_symbols_carry_no_language():
    for text in ("@jokowi", "user@example.com", "© 2025 —", "www.example.co.id/berita/123", "+62 21 555 0199"):
        assert identifier.identify(text) == identifier.identify("") == identifier.identify("   ")
        assert identifier.identify(text).language == UNDETERMINED


def test_headlines_in_capitals_are_read_as_words():
    assert identifier.identify("BREAKING NEWS: PRESIDENT RESIGNS AFTER CORRUPTION SCANDAL").language == "en"
    assert identifier.identify("PRESIDEN RESMIKAN JALAN TOL BARU DI JAWA TENGAH").language == "id"


def test_cyrillic_letters_a_language_does_not_write_rule_it_out():
    assert identifier.identify("Уряд оголосив нові заходи").language == "uk"  # і is not Russian
    assert identifier.identify("Мы подошли к зеркалу").language == "ru"  # ы is neither Ukrainian nor Bulgarian
    assert identifier.identify("Владата објави нови мерки").language == "mk"  # ј


def test_the_prior_decides_only_what_the_text_cannot():
    favouring_afrikaans = LanguageIdentifier(prior={"af": 1000.0})
    assert favouring_afrikaans.identify(ENGLISH).language == "en"
    assert favouring_afrikaans.identify("people attended").language == "af"


def test_short_paragraphs_lean_towards_the_document_language():
    paragraphs = [INDONESIAN] * 3 + ["Share", "Dwi Agustiar", "Disclaimer: This summary was created using Artificial Intelligence (AI)"]
    _, languages = identifier.identify_paragraphs(tuple(paragraphs))
    assert [p.language for p in languages] == ["id"] * 5 + ["en"]
    assert identifier.identify("Share").language != "id"  # alone, it is not Indonesian: the document made it so


def test_kanji_only_line_in_a_japanese_document_is_japanese():
    paragraphs = ("東京都は今日、新しい防災計画を発表しました。住民に避難経路の確認を呼びかけています。", "東京都知事")
    document, languages = identifier.identify_paragraphs(paragraphs)
    assert document.language == "ja"
    assert [p.language for p in languages] == ["ja", "ja"]
    assert identifier.identify("中国北京市东城区草园胡同").language == "zh"


def test_paragraph_languages_match_the_paragraph_count():
    document, languages = identifier.identify_paragraphs(("12345", ENGLISH, "—"))
    assert document.language == "en"
    assert [p.language for p in languages] == [UNDETERMINED, "en", UNDETERMINED]
    assert identifier.identify_paragraphs(()) == (identifier.identify(""), ())


# ------------------------------------------------------------------ long texts: a sample decides

from pipeline.record import iter_paragraphs, split_paragraphs  # noqa: E402


def long_text(paragraphs: int, every: int = 10) -> str:
    """English paragraphs, an Indonesian one every `every`, each made distinct by its number."""
    return join_paragraphs(
        f"{INDONESIAN} Nomor {n}." if n % every == 0 else f"{ENGLISH} This is paragraph number {n}." for n in range(paragraphs)
    )


def test_a_long_text_is_labelled_from_an_evenly_spread_sample(monkeypatch):
    monkeypatch.setattr(language, "SAMPLE_CHARS", 6_000)
    text = long_text(1_500)
    paragraphs = split_paragraphs(text)
    document, labels = identifier.identify_long_text(text)
    assert document.language == "en"
    assert len(labels) == len(paragraphs)
    inferred = labels[1]  # position 1 is not in the sample: the label every unsampled paragraph shares
    sampled = [i for i, label in enumerate(labels) if label is not inferred]
    assert 30 <= len(sampled) <= 60  # about SAMPLE_CHARS of text
    assert sampled[0] < 50 and sampled[-1] > len(paragraphs) - 50  # spread over the whole text
    # the sampled paragraphs carry their exact labels, Indonesian ones included
    exact_document, exact = identifier.identify_paragraphs(tuple(paragraphs[i] for i in sampled))
    assert exact_document == document
    assert [labels[i] for i in sampled] == list(exact)
    assert any(labels[i].language == "id" for i in sampled)
    # the rest take the document's language, with the confidence the sample supports
    agreeing = sum(label.language == "en" for label in exact)
    assert inferred.language == "en"
    assert inferred.confidence == round((agreeing + 1) / (len(exact) + 2), 4) < 1.0


def test_a_long_document_gets_one_label_per_paragraph_and_the_same_labels_every_time():
    text = long_text(7_000, every=4)
    assert len(text) > language.LARGE_TEXT_CHARS
    doc = Document(source_path="long.txt", text=text)
    first, second = detect_language(doc), detect_language(doc)
    assert first.language == "en"
    assert len(first.paragraph_languages) == len(doc.paragraphs)
    assert first.paragraph_languages == second.paragraph_languages
    assert (first.language, first.language_confidence) == (second.language, second.language_confidence)
    assert 0.5 < first.language_confidence < 1.0


def test_a_long_text_in_another_language_is_that_language():
    text = join_paragraphs(f"{INDONESIAN} Nomor {n}." for n in range(5_000))
    assert len(text) > language.LARGE_TEXT_CHARS
    doc = detect_language(Document(source_path="long.txt", text=text))
    assert doc.language == "id"
    assert {label.language for label in doc.paragraph_languages} == {"id"}


def test_paragraph_iteration_agrees_with_split_paragraphs():
    for text in ("", "\n\n", "a", "a\n\nb", "\n\na\n\n\n\nb \n\n  \n\nc\n", " x \n\n\n y ", "a\n\n\nb"):
        assert tuple(iter_paragraphs(text)) == split_paragraphs(text), repr(text)
