from __future__ import annotations

import pytest

from pipeline.translate.segment import split_long_sentence, split_sentences

PARAGRAPHS = [
    ("id", "Dr. Siti Rahmawati tiba di Jl. Sudirman No. 5 pukul 10.30. Ia disambut warga."),
    ("id", "Inflasi mencapai 2.1 persen pada 27.10.2025. Harga naik! Benarkah? Ya."),
    ("id", "H. Agus Salim dan Tn. Budi hadir, buah, sayur, dll. lalu pulang.  Kedua kalinya."),
    ("id", "(Reuters) - Harga minyak turun. “Kami khawatir,” katanya. “Ini buruk.” Selesai."),
    ("en", 'J. R. R. Tolkien wrote books. Mr. Smith said "Go home." Then he left... and came back.'),
    ("en", "The U.S. economy grew. It was 5 p.m. when I left.\nA new line starts here."),
    ("en", "  leading space. trailing space   "),
    ("en", "No terminator at all"),
    ("en", "Wait... What?! Really?"),
    ("en", ""),
]


@pytest.mark.parametrize(("lang", "paragraph"), PARAGRAPHS)
def test_joining_the_sentences_restores_the_paragraph(lang: str, paragraph: str):
    assert "".join(split_sentences(paragraph, lang)) == paragraph


@pytest.mark.parametrize(
    ("lang", "paragraph", "expected"),
    [
        (
            "id",
            "Dr. Siti Rahmawati tiba di Jl. Sudirman No. 5 pukul 10.30. Ia disambut warga.",
            ["Dr. Siti Rahmawati tiba di Jl. Sudirman No. 5 pukul 10.30.", "Ia disambut warga."],
        ),
        (
            "id",
            "Inflasi mencapai 2.1 persen pada 27.10.2025. Harga naik! Benarkah? Ya.",
            ["Inflasi mencapai 2.1 persen pada 27.10.2025.", "Harga naik!", "Benarkah?", "Ya."],
        ),
        (
            "id",
            "Ia membawa buah, sayur, dll. Tn. Budi dan H. Agus Salim dsb. Hadir juga Ny. Ani.",
            ["Ia membawa buah, sayur, dll. Tn. Budi dan H. Agus Salim dsb. Hadir juga Ny. Ani."],
        ),
        (
            "id",
            "“Kami khawatir,” katanya. “Ini buruk.” Selesai.",
            ["“Kami khawatir,” katanya.", "“Ini buruk.”", "Selesai."],
        ),
        (
            "en",
            'J. R. R. Tolkien wrote books. Mr. Smith said "Go home." Then he left... and came back.',
            ["J. R. R. Tolkien wrote books.", 'Mr. Smith said "Go home."', "Then he left... and came back."],
        ),
        (
            "en",
            "The U.S. economy grew. It was 5 p.m. when I left. I said no. Then I went home.",
            ["The U.S. economy grew.", "It was 5 p.m. when I left.", "I said no.", "Then I went home."],
        ),
        ("en", "Wait... What?! Really?", ["Wait...", "What?!", "Really?"]),
        ("en", "Prices rose 3.5 percent (see Fig. 2). Analysts were surprised.", ["Prices rose 3.5 percent (see Fig. 2).", "Analysts were surprised."]),
    ],
)
def test_sentence_boundaries(lang: str, paragraph: str, expected: list[str]):
    assert [s.strip() for s in split_sentences(paragraph, lang)] == expected


def test_each_sentence_keeps_the_whitespace_that_follows_it():
    assert split_sentences("One.  Two.\nThree.", "en") == ["One.  ", "Two.\n", "Three."]


def test_a_paragraph_without_text_is_one_piece():
    assert split_sentences("", "id") == [""]
    assert split_sentences("   ", "id") == ["   "]


def words(text: str) -> int:
    return len(text.split())


LONG = (
    "Pemerintah mengumumkan rencana baru untuk membangun jalan, jembatan dan pelabuhan di seluruh negeri; "
    "para ahli menyambut baik rencana itu, tetapi mereka mengingatkan soal biaya: anggaran terbatas "
    "dan utang negara terus bertambah – sebuah risiko yang harus diperhitungkan dengan hati-hati oleh semua pihak."
)


def test_a_short_sentence_is_not_cut():
    assert split_long_sentence("Harga naik.", words, max_tokens=10) == ["Harga naik."]


def test_a_long_sentence_is_cut_at_clause_boundaries():
    pieces = split_long_sentence(LONG, words, max_tokens=12)

    assert "".join(pieces) == LONG
    assert len(pieces) > 1
    assert all(words(p) <= 12 for p in pieces)
    assert all(p.rstrip()[-1] in ";:,–" for p in pieces[:-1])


def test_a_clause_longer_than_the_limit_is_cut_between_words():
    clause = " ".join(f"kata{i}" for i in range(25))
    pieces = split_long_sentence(clause, words, max_tokens=10)

    assert "".join(pieces) == clause
    assert [words(p) for p in pieces] == [10, 10, 5]


SEED_004 = (
    "Jakarta, IDN Times - Presiden Rusia Vladimir Putin bertemu dengan Menteri Luar Negeri Korea Utara "
    "Choe Son Hui di Istana Kremlin, Selasa (27/10/2025). Pertemuan itu berlangsung tepat saat Presiden "
    "Amerika Serikat (AS) Donald Trump melakukan lawatan ke Jepang dan bertemu Perdana Menteri (PM) Sanae Takaichi."
)


@pytest.mark.parametrize(
    ("lang", "paragraph", "expected"),
    [
        # real: seeds/004 (a date in brackets, acronyms in brackets)
        ("id", SEED_004, [SEED_004[: SEED_004.index(" Pertemuan")], SEED_004[SEED_004.index("Pertemuan") :]]),
        # real: seeds/003 (citation marks after the stop belong to the sentence)
        (
            "en",
            "Indonesia remained the headquarters of the Non-Aligned Movement.[5] Despite the newfound tilt, "
            "Indonesia never formally severed ties.",
            ["Indonesia remained the headquarters of the Non-Aligned Movement.[5]", "Despite the newfound tilt, Indonesia never formally severed ties."],
        ),
        # real: seeds/002 (an address: "No." before a number)
        ("en", "Room A409, Jucai Building. No. 76 Caoyuan Hutong.", ["Room A409, Jucai Building.", "No. 76 Caoyuan Hutong."]),
        # Indonesian month abbreviations, decimals with a comma, rupiah
        (
            "id",
            "Acara digelar 27 Okt. 2025 pukul 21.45 WIB. Harga tiket Rp 2,1 juta, kata Bpk. Joko.",
            ["Acara digelar 27 Okt. 2025 pukul 21.45 WIB.", "Harga tiket Rp 2,1 juta, kata Bpk. Joko."],
        ),
        # degrees and initials inside a name
        ("id", "Prof. Dr. Ir. H. M. Nuh, S.H., M.Si. hadir. Ia tersenyum.", ["Prof. Dr. Ir. H. M. Nuh, S.H., M.Si. hadir.", "Ia tersenyum."]),
        # scripts that put no space after a full stop, or have no capitals
        ("zh", "普京会见了崔善姬。双方讨论了合作！会谈持续两小时？", ["普京会见了崔善姬。", "双方讨论了合作！", "会谈持续两小时？"]),
        ("ja", "「会談は成功だった。」と述べた。次は東京だ。", ["「会談は成功だった。」と述べた。", "次は東京だ。"]),
        ("ar", "التقى بوتين وزيرة الخارجية. وناقش الجانبان التعاون.", ["التقى بوتين وزيرة الخارجية.", "وناقش الجانبان التعاون."]),
    ],
)
def test_tricky_boundaries(lang: str, paragraph: str, expected: list[str]):
    sentences = split_sentences(paragraph, lang)
    assert "".join(sentences) == paragraph
    assert [s.strip() for s in sentences] == expected


def test_text_without_spaces_is_cut_between_characters_when_too_long():
    text = "普京会见了崔善姬" * 10  # no clause mark, no space
    pieces = split_long_sentence(text, len, max_tokens=25)
    assert "".join(pieces) == text
    assert [len(p) for p in pieces] == [25, 25, 25, 5]


def test_cjk_clause_marks_are_clause_boundaries():
    text = "普京会见了崔善姬，" * 4
    pieces = split_long_sentence(text, len, max_tokens=20)
    assert "".join(pieces) == text and all(len(p) <= 20 and p.endswith("，") for p in pieces)
