"""Sentence segmentation for translation: offline, rule-based, lossless.

Translation models are trained on sentences, so paragraphs are cut into sentences first.
Every function here is lossless: `"".join(split_sentences(p, lang)) == p`, each sentence keeps
the whitespace that follows it, and the same holds for `split_long_sentence`.
A missed boundary only makes one input longer; a false boundary ("Dr. | Siti") breaks a
sentence in two, so the rules lean towards not splitting.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Abbreviations after which a period does not end a sentence (compared case-sensitively, so
# "No. 5" does not split but "I said no. Then" does).
COMMON_ABBREVIATIONS = frozenset(
    """
    Mr Mrs Ms Mx Dr Drs Dra Prof Sr Sra Jr St Mt Ft No Nos Nr Vol Vols Fig Figs Ch Sec Art
    vs etc al approx est Inc Ltd Co Corp Bros Dept Univ Assn Ave Blvd Rd
    Gen Gov Sen Rep Rev Capt Col Lt Sgt Maj Cmdr Adm Hon Pres
    Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
    """.split()
)
LANGUAGE_ABBREVIATIONS: dict[str, frozenset[str]] = {
    "en": frozenset("e.g i.e a.m p.m cf ca viz".split()),
    "id": frozenset(
        """
        dll dsb dst dkk tsb yg dgn utk sbb sda tgl thn bln hlm kab Kab Kec Kel Prov Kot
        Jl Jln Gg H Hj Tn Ny Nn Sdr Sdri Bpk Bp Ibu Yth dr drg Ir Moh Muh Mochd KH
        Rp Pol Kol Letjen Mayjen Brigjen Jend Kapt Kompol AKBP AKP Iptu Ipda Komjen Irjen Brigjen
        Jan Feb Mar Apr Mei Jun Jul Agu Agt Agst Sep Okt Nov Des No Hal
        a.n u.p s.d u.b
        """.split()
    ),
}
LANGUAGE_ABBREVIATIONS["ms"] = LANGUAGE_ABBREVIATIONS["id"]

_TERMINATORS = ".!?\u2026"  # ... is U+2026
# Full stops of scripts written without a space after them: CJK, Devanagari, Burmese, Arabic, Urdu.
_UNSPACED_TERMINATORS = "\u3002\uff01\uff1f\u0964\u0965\u104b\u061f\u06d4"
_CLOSERS = "\"'\u201d\u2019\u00bb)]}\u300d\u300f\uff09"
_OPENERS = "\"'\u201c\u2018\u00ab([{\u00bf\u00a1\u300c\u300e\uff08"
# A terminator run, optional closing quotes/brackets and citation marks ("[3]"), then whitespace;
# or an unspaced terminator run, its closers and any whitespace.
_CITATION = r"(?:\[[^\]\s]{1,12}\])*"
_BOUNDARY = re.compile(
    rf"[{re.escape(_TERMINATORS)}]+[{re.escape(_CLOSERS)}]*{_CITATION}(\s+)"
    rf"|[{re.escape(_UNSPACED_TERMINATORS)}]+[{re.escape(_CLOSERS)}]*{_CITATION}(\s*)"
)
# Dotted abbreviations such as "U.S", "e.g", "S.H", "M.Si" (the final period is the terminator).
_DOTTED = re.compile(r"(?:[^\W\d_]{1,3}\.)+[^\W\d_]{1,3}")
_CLAUSE_BREAK = re.compile(r"[;:,\u2013\u2014](?=\s)\s*|\s[\u2013\u2014-]\s+|[\uff0c\u3001\uff1b\uff1a\u060c\u061b]\s*")


def abbreviations(lang: str) -> frozenset[str]:
    return COMMON_ABBREVIATIONS | LANGUAGE_ABBREVIATIONS.get(lang, frozenset())


def _starts_sentence(text: str) -> bool:
    """Does the text after a candidate boundary look like the start of a sentence?"""
    stripped = text.lstrip(_OPENERS)
    if not stripped:
        return bool(text)
    first = stripped[0]
    uncased = first.lower() == first.upper()  # CJK, Arabic, Thai...: no capital to look for
    return first.isupper() or first.isdigit() or not first.isalpha() or uncased


def _ends_with_abbreviation(before: str, abbrevs: frozenset[str]) -> bool:
    """`before` is the text up to (not including) a single period."""
    match = re.search(r"(\S+)$", before)
    if not match:
        return False
    word = match.group(1).lstrip(_OPENERS)
    if word in abbrevs:
        return True
    if len(word) == 1 and word.isalpha() and word.isupper():
        return True  # an initial: "J. R. R. Tolkien", "H. Agus Salim"
    return bool(_DOTTED.fullmatch(word))


def split_sentences(paragraph: str, lang: str) -> list[str]:
    """Cut a paragraph into sentences; `"".join(result) == paragraph`.

    Each sentence carries the whitespace that follows it; whitespace before the first sentence
    is kept on the first piece.
    """
    abbrevs = abbreviations(lang)
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        end = match.end()
        rest = paragraph[end:]
        if not rest or not _starts_sentence(rest):
            continue
        terminators = re.sub(_CITATION + "$", "", match.group(0).rstrip()).rstrip(_CLOSERS)
        unspaced = match.group(1) is None
        if unspaced and not match.group(2) and terminators != match.group(0):
            continue  # 「…。」と述べた: a quotation closed inside a sentence that goes on
        if terminators == "." and _ends_with_abbreviation(paragraph[start : match.start()], abbrevs):
            continue
        if not paragraph[start : match.start()].strip():
            continue  # nothing but punctuation so far
        sentences.append(paragraph[start:end])
        start = end
    if start < len(paragraph) or not sentences:
        sentences.append(paragraph[start:])
    return sentences


def split_long_sentence(sentence: str, count_tokens: Callable[[str], int], max_tokens: int = 200) -> list[str]:
    """Cut a sentence longer than `max_tokens` at clause boundaries (; : , and dashes), packing
    clauses greedily so that each piece fits; a clause that still does not fit is cut between
    words, and text without spaces (CJK) that still does not fit is cut between characters.
    `"".join(result) == sentence`; translate the pieces and join them with a space.
    """
    if count_tokens(sentence) <= max_tokens:
        return [sentence]
    clauses = _cut_after(sentence, [m.end() for m in _CLAUSE_BREAK.finditer(sentence)])
    pieces: list[str] = []
    for clause in clauses:
        if count_tokens(clause) > max_tokens:
            pieces.extend(_pack(_cut_after(clause, [m.end() for m in re.finditer(r"\s+", clause)]), count_tokens, max_tokens))
        else:
            pieces.append(clause)
    packed = _pack(pieces, count_tokens, max_tokens)
    return [part for piece in packed for part in _cut_characters(piece, count_tokens, max_tokens)]


def _cut_characters(text: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    """Cut text with no usable boundary into the longest prefixes that fit (binary search)."""
    parts = []
    while count_tokens(text) > max_tokens and len(text) > 1:
        low, high = 1, len(text) - 1  # the longest prefix length that fits lies in [low, high]
        while low < high:
            middle = (low + high + 1) // 2
            if count_tokens(text[:middle]) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        parts.append(text[:low])
        text = text[low:]
    parts.append(text)
    return parts


def _cut_after(text: str, positions: list[int]) -> list[str]:
    cuts = [0, *[p for p in positions if 0 < p < len(text)], len(text)]
    return [text[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]


def _pack(parts: list[str], count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    packed: list[str] = []
    current = ""
    for part in parts:
        if current and count_tokens(current + part) > max_tokens:
            packed.append(current)
            current = part
        else:
            current += part
    if current:
        packed.append(current)
    return packed
