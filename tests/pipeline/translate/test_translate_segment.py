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
