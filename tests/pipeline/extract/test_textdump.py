from __future__ import annotations

from datetime import datetime

import pytest

from pipeline.extract import clean_text_dump, extract_document
from pipeline.extract import textdump
from pipeline.extract.textdump import densest_span, strip_citation_marks
from pipeline.record import Document, split_paragraphs
from tests.conftest import SEEDS_DIR as SEEDS


def seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------ the five seeds


def test_seed_000_keeps_every_paragraph_and_takes_source_line_as_metadata():
    raw = seed("000")
    article = clean_text_dump(raw)
    body = lines_of(raw)[:-1]
    assert list(split_paragraphs(article.text)) == body
    assert "Source:" not in article.text
    assert article.source_url == "https://jakartaglobe.id/news/indonesia-north-korea-agree-deeper-ties-in-first-fm-trip-since-201"
    assert article.site_name == "jakartaglobe.id"
    assert article.author == "Jayanty Nada Shofa"


def test_seed_001_drops_breadcrumb_and_comment_form_keeps_author_bio():
    article = clean_text_dump(seed("001"))
    paragraphs = split_paragraphs(article.text)
    assert article.title == "Jakarta gambles on embracing North Korea"
    assert paragraphs[0].startswith("When Indonesia’s Foreign Minister Sugiono landed in Pyongyang")
    assert paragraphs[-1] == (
        "Aniello Iannone is a lecturer in Southeast Asian Politics, Universitas Diponegoro (UNDIP), Indonesia"
    )
    expected = [" ".join(line.split()) for line in lines_of(seed("001"))[2:-5]]
    assert list(paragraphs) == expected
    for chrome in ("HomeAsia", "LEAVE A REPLY", "Please enter your comment!", "Please enter your name here", "Must Read", "spot_img"):
        assert chrome not in article.text
    assert "2025,  the" not in article.text  # runs of spaces collapsed


def test_seed_002_drops_contact_block():
    raw = seed("002")
    article = clean_text_dump(raw)
    paragraphs = split_paragraphs(article.text)
    assert paragraphs[-1].startswith("There are no major economic partnerships")
    assert list(paragraphs) == lines_of(raw)[:25]
    for chrome in ("email", "WhatsApp", "Room A409", "Dongcheng", "北京市", "邮编", "Download contact card"):
        assert chrome not in article.text


def test_seed_003_strips_citation_marks_keeps_sentences():
    article = clean_text_dump(seed("003"))
    paragraphs = split_paragraphs(article.text)
    assert len(paragraphs) == 10
    assert paragraphs[0] == (
        "According to a 2017 BBC World Service Poll, 46% of Indonesians view North Korea's influence "
        "negatively, with only 17% expressing a positive view."
    )
    assert "[" not in article.text and "needs update" not in article.text


def test_seed_004_summary_box_widgets_and_teasers_removed():
    raw = seed("004")
    article = clean_text_dump(raw)
    paragraphs = split_paragraphs(article.text)
    assert article.title == "Trump ke Jepang, Putin Bertemu Menlu Korea Utara di Istananya"
    assert article.published_at == datetime(2025, 10, 27)
    assert paragraphs[0].startswith("Jakarta, IDN Times - Presiden Rusia Vladimir Putin")
    assert paragraphs[-1].startswith("Usai dari Moskow, Choe dijadwalkan")
    all_lines = lines_of(raw)
    first = next(i for i, line in enumerate(all_lines) if line.startswith("Jakarta, IDN Times"))
    last = next(i for i, line in enumerate(all_lines) if line.startswith("Usai dari Moskow"))
    assert list(paragraphs) == all_lines[first : last + 1]
    for chrome in (
        "Baca artikel IDN Times", "Intinya sih", "•", "Disclaimer", "(Presidential Executive Office",
        "Vladimir Putin di Pyongyang dalam kunjungan", "Editor’s Picks", "Follow Us", "Latest in News",
        "See More", "Kejagung", "WIBNews", "Dwi Agustiar",
    ):
        assert chrome not in article.text


def test_seeds_through_extract_document():
    doc = Document(source_path="seeds/004.txt", raw_text=seed("004"), content_format="text")
    out = extract_document(doc)
    assert not out.rejected
    assert out.published_at == datetime(2025, 10, 27)
    assert out.title.startswith("Trump ke Jepang")
    assert "\n\n\n" not in out.text


# ------------------------------------------------------------------ other dumps, other wording


def test_english_dump_with_menu_share_newsletter_and_related_list():
    dump = """Skip to content
News
World
Business
Sport
Subscribe
Sign in
City council approves new flood barrier for the harbour district
By Maria Lopez
12 March 2024, 10:30 GMT
Share
The city council voted on Tuesday to build a flood barrier along the harbour, ending a debate that has lasted almost a decade.
The barrier, which will cost an estimated 40 million euros, is meant to protect about 3,000 homes from storm surges that have grown more frequent in recent years.
Funding
Most of the money will come from a regional fund, while the rest will be raised through a bond that residents will vote on in the autumn.
Opponents say the project will block views of the water and hurt tourism, but the council argued that the cost of doing nothing would be far higher.
Sign up for our newsletter to get the latest news in your inbox every morning.
Related stories
Harbour festival returns after five years
Mayor announces new bus routes
© 2024 Harbour Times. All rights reserved.
Privacy Policy | Terms of Use | Contact
"""
    article = clean_text_dump(dump)
    paragraphs = split_paragraphs(article.text)
    assert paragraphs[0].startswith("The city council voted on Tuesday")
    assert "Funding" in paragraphs  # a subheading between paragraphs stays
    assert paragraphs[-1].startswith("Opponents say the project")
    assert article.title == "City council approves new flood barrier for the harbour district"
    assert article.author == "Maria Lopez"
    assert article.published_at == datetime(2024, 3, 12, 10, 30)
    for chrome in ("Subscribe", "newsletter", "Related stories", "Harbour festival", "All rights reserved", "Privacy Policy"):
        assert chrome not in article.text


def test_spanish_dump_with_comment_section_and_dated_teasers():
    dump = """Portada
Noticias
Deportes
Relacionado
08/01/2014 El alcalde inaugura la nueva biblioteca municipal
07/01/2014 La policía detiene a dos personas por un robo en el centro
El Gobierno aprueba el plan de vivienda para jóvenes
Ana García | Madrid | 09/01/2014
El Consejo de Ministros aprobó este jueves un plan de vivienda que ofrecerá ayudas a los jóvenes menores de 35 años para pagar el alquiler.
Según el ministerio, el plan beneficiará a unas 200.000 personas durante los próximos tres años y costará 500 millones de euros.
La oposición criticó que las ayudas llegan tarde y que no resuelven la falta de oferta de pisos en las grandes ciudades.
Comentarios
Pepe
Hace 28 minutos
No me lo creo, siempre prometen lo mismo y luego nunca llega el dinero a quien lo necesita de verdad.
Valoración:3
"""
    article = clean_text_dump(dump)
    paragraphs = split_paragraphs(article.text)
    assert paragraphs[0].startswith("El Consejo de Ministros aprobó")
    assert paragraphs[-1].startswith("La oposición criticó")
    assert article.title == "El Gobierno aprueba el plan de vivienda para jóvenes"
    assert article.published_at == datetime(2014, 1, 9)
    assert "biblioteca" not in article.text and "No me lo creo" not in article.text


def test_german_and_french_chrome_words_are_dropped():
    dump = """Startseite
Politik
Teilen
Die Regierung hat am Mittwoch ein neues Gesetz zum Schutz der Wälder beschlossen, das strengere Regeln für die Abholzung vorsieht.
Umweltverbände begrüßten den Beschluss, forderten aber zugleich mehr Geld für die Aufforstung in den betroffenen Regionen.
Lesen Sie auch: Waldbrände nehmen in Europa zu
Kommentare
Datenschutz
Impressum
"""
    article = clean_text_dump(dump)
    assert split_paragraphs(article.text) == (
        "Die Regierung hat am Mittwoch ein neues Gesetz zum Schutz der Wälder beschlossen, das strengere Regeln für die Abholzung vorsieht.",
        "Umweltverbände begrüßten den Beschluss, forderten aber zugleich mehr Geld für die Aufforstung in den betroffenen Regionen.",
    )
    french = """Accueil
Partager
Le gouvernement a présenté mercredi un projet de loi sur l'énergie qui prévoit de doubler la production solaire d'ici 2030.
Les entreprises du secteur ont salué une décision attendue depuis longtemps, tout en demandant des procédures plus rapides.
À lire aussi : La facture d'électricité va baisser
Abonnez-vous à notre newsletter
Tous droits réservés
"""
    article = clean_text_dump(french)
    assert len(split_paragraphs(article.text)) == 2
    assert "lire aussi" not in article.text.lower() and "newsletter" not in article.text


def test_chinese_dump_without_spaces():
    dump = """首页
新闻
国际
分享
中国和印度尼西亚周二签署了新的贸易协议，双方同意在未来五年内扩大农产品和电子产品的进出口规模。
专家表示，这项协议将帮助两国企业降低成本，并为东南亚地区的经济合作提供新的动力。
联系我们
版权所有 © 2024
"""
    article = clean_text_dump(dump)
    paragraphs = split_paragraphs(article.text)
    assert len(paragraphs) == 2
    assert paragraphs[0].startswith("中国和印度尼西亚周二签署")
    assert "版权" not in article.text and "联系我们" not in article.text


def test_menus_saved_as_one_line_are_not_article_text():
    """A browser's "save as text" puts a menu's entries side by side on one line: in English many
    words without a punctuation mark; in Japanese phrases with spaces between them and hardly a
    comma, or tags glued with no punctuation at all. None of them is prose (issue 27)."""
    english = """Home

Prices for second-hand bicycles rose sharply this spring, dealers in three cities said on Monday.

The shortage began when factories in Asia closed for several weeks, and it has not eased since then.

Edit Delete Invite Invite manually Follow the author Unfollow the author Follow the author for updates Dismiss Undismiss Block this user
"""
    article = clean_text_dump(english)
    assert article.text.startswith("Prices for second-hand bicycles")
    assert "Invite" not in article.text
    japanese = """トップ

６月12日の米朝首脳会談を巡って戦っていたのは、米大統領と北朝鮮委員長ばかりではなかった。中国国家主席も重要な陰の参戦者だった。

核放棄を巡って「検証可能な」の文字がなく、米韓軍事演習の中止にまで踏み込んだ会談は、各国に驚きを与えた。

北朝鮮政府中朝関係米国政府習近平金正恩温家宝トランプ蔡英文李克強父の日マリーナベイ・サンズ米朝ホットライン開設中国ワシントン

経営者ブログ コンフィデンシャル 価格は語る 消費を斬る 池上彰 法務インサイド 就活 ニュースこう読む スキルアップ塾 奥が深い新宿グルメ 次回はぜひここへ
"""
    article = clean_text_dump(japanese)
    assert article.text.startswith("６月12日の米朝首脳会談")
    assert "ブログ" not in article.text and "蔡英文" not in article.text


def test_hard_wrapped_paragraphs_are_joined():
    dump = """The committee published its final report on Monday after two years of
hearings, concluding that the agency had ignored repeated warnings about
the safety of the bridge before it collapsed in the spring.

The report recommends that inspections be carried out by an independent
body and that their results be published within thirty days of each visit
so that residents can see what was found and what is being done about it.

Officials said they would study the recommendations carefully and respond
in writing before the end of the year, as required by the law on audits.
"""
    paragraphs = split_paragraphs(clean_text_dump(dump).text)
    assert len(paragraphs) == 3
    assert paragraphs[0].endswith("before it collapsed in the spring.")


def test_navigation_only_dump_has_no_article_and_is_rejected():
    dump = "Home\nNews\nSport\nWeather\nLogin\nSubscribe\nContact us\nPrivacy policy\n© 2024 Example Media\n"
    assert clean_text_dump(dump).text == ""
    out = extract_document(Document(source_path="nav.txt", raw_text=dump, content_format="text"))
    assert out.rejection is not None and out.rejection.reason == "no_article"
    assert out.rejection.detail


def test_rejected_document_passes_through_unchanged():
    doc = Document(source_path="x.txt", raw_text="Some text", content_format="text").reject("binary_file", "binary")
    assert extract_document(doc) is doc


@pytest.mark.parametrize("raw", ["", "\n\n\n", "\x00\x01\x02", "a" * 10000, "<<<>>>", "•\n•\n•"])
def test_odd_inputs_do_not_raise(raw):
    article = clean_text_dump(raw)
    assert isinstance(article.text, str)
    out = extract_document(Document(source_path="odd.txt", raw_text=raw, content_format="text"))
    assert out.rejected or out.text


def test_strip_citation_marks():
    assert strip_citation_marks("a view.[3][needs update] Next[12] one") == "a view. Next one"
    assert strip_citation_marks("see [Reuters] and [1]") == "see [Reuters] and [1]"  # not glued to a word


def test_densest_span():
    assert densest_span([-5, 3, -1, 4, -20, 2]) == (1, 3)
    assert densest_span([-1, -2]) is None


def _glued_variant_by_scan(keys: list[str], key: str) -> bool:
    """The definition, one comparison per key (what the cleaner did before: quadratic)."""
    return any(len(other) <= len(key) + 40 and other != key and other.startswith(key) for other in keys)


def test_glued_title_search_agrees_with_a_scan_of_every_line():
    import random

    rng = random.Random(7)
    stems = ["jakarta gambles on coal", "minister visits pyongyang", "election results", "weather"]
    keys = [rng.choice(stems) + "".join(rng.choice(" abcxyz") for _ in range(rng.choice([0, 0, 5, 30, 45, 60]))) for _ in range(400)]
    ordered = sorted(set(keys))
    for key in set(keys):
        assert textdump._has_glued_variant(ordered, key) == _glued_variant_by_scan(keys, key), key


# ------------------------------------------------------------------ long texts, read in windows

LONG_HEADER = """Skip to content
Home
News
World
Subscribe
Sign in
HomeWorldCity council approves new flood barrier for the harbour district
City council approves new flood barrier for the harbour district
By Maria Lopez
12 March 2024, 10:30 GMT
Share on Facebook
"""
LONG_FOOTER = """Sign up for our newsletter to get the latest news in your inbox every morning.
Related stories
Harbour festival returns after five years
Mayor announces new bus routes
LEAVE A REPLY
Please enter your comment!
© 2024 Harbour Times. All rights reserved.
Privacy Policy | Terms of Use | Contact
"""
LONG_CHROME = ("Skip to content", "Subscribe", "Share on Facebook", "newsletter", "Related stories", "Harbour festival", "All rights reserved", "Privacy Policy")


def long_body(chars: int) -> list[str]:
    """Distinct paragraphs (numbered sentences), a subheading now and then, about `chars` long."""
    paragraphs, total, number = [], 0, 0
    while total < chars:
        number += 1
        if number % 50 == 0:
            paragraph = f"Part {number // 50} of the council's plan"
        else:
            paragraph = (
                f"The council heard evidence number {number} about the barrier on Tuesday, and members asked how the "
                f"harbour would change in the {number % 7 + 2} years the work is expected to take."
            )
        paragraphs.append(paragraph)
        total += len(paragraph) + 1
    return paragraphs


def messy(paragraph: str, number: int) -> str:
    """The same paragraph as a page dump might hold it: odd spaces, zero-width marks, a citation mark."""
    if number % 3 == 0:
        paragraph = paragraph.replace(" ", "  \t", 2)
    if number % 5 == 0:
        paragraph = "\u200b" + paragraph.replace("barrier", "barrier[12]", 1) + "  "
    return paragraph


def test_a_long_text_keeps_its_whole_body_and_drops_chrome_at_both_ends():
    body = long_body(textdump.LARGE_DUMP_CHARS + 200_000)
    lines = [messy(p, i) for i, p in enumerate(body)]
    dump = LONG_HEADER + "\r\n".join(lines) + "\r\n\r\n" + LONG_FOOTER
    assert len(dump) > textdump.LARGE_DUMP_CHARS  # the windowed mode
    article = clean_text_dump(dump)
    assert list(split_paragraphs(article.text)) == body  # in order, normalised, citation marks gone
    for chrome in LONG_CHROME:
        assert chrome not in article.text
    assert article.title == "City council approves new flood barrier for the harbour district"
    assert article.author == "Maria Lopez"
    assert article.published_at == datetime(2024, 3, 12, 10, 30)


def test_windows_agree_with_the_line_cleaner(monkeypatch):
    """With small windows, a text with no repeated lines and no chrome inside comes out of the
    windowed mode exactly as the line-by-line cleaner makes it, hard-wrapped text included."""
    import textwrap

    body = long_body(60_000)
    flowing = LONG_HEADER + "\n".join(messy(p, i) for i, p in enumerate(body)) + "\n\n" + LONG_FOOTER
    wrapped = LONG_HEADER + "\n" + "\n\n".join(textwrap.fill(p, 72) for p in body) + "\n\n" + LONG_FOOTER
    expected = {name: textdump._clean_dump_lines(dump) for name, dump in (("flowing", flowing), ("wrapped", wrapped))}
    monkeypatch.setattr(textdump, "LARGE_DUMP_CHARS", 20_000)
    monkeypatch.setattr(textdump, "EDGE_CHARS", 4_000)
    monkeypatch.setattr(textdump, "WINDOW_CHARS", 3_000)
    for name, dump in (("flowing", flowing), ("wrapped", wrapped)):
        article = clean_text_dump(dump)
        assert article == expected[name], name
        assert len(split_paragraphs(article.text)) == len(body)


def test_a_long_text_comes_out_the_same_every_time():
    dump = LONG_HEADER + "\n".join(long_body(textdump.LARGE_DUMP_CHARS + 50_000)) + "\n" + LONG_FOOTER
    assert clean_text_dump(dump) == clean_text_dump(dump)


def test_a_long_text_of_one_line_is_still_read():
    line = " ".join(long_body(textdump.LARGE_DUMP_CHARS + 10_000))
    article = clean_text_dump("Home\nNews\n" + line + "\n")
    assert article.text == line


def test_a_long_text_of_short_lines_is_a_bounded_number_of_paragraphs():
    """Each paragraph is a warehouse row: a text of a hundred thousand short lines (a word list, a
    log) has them joined into paragraphs of at least MIN_MEAN_PARAGRAPH_CHARS, not one row a line."""
    from bench.large_file_bench import short_lines_text

    text = short_lines_text(3 * 1024 * 1024)
    body = clean_text_dump(text).text
    paragraphs = split_paragraphs(body)
    assert len(paragraphs) <= len(body) / textdump.MIN_MEAN_PARAGRAPH_CHARS
    assert max(map(len, paragraphs)) <= textdump.MAX_PARAGRAPH_CHARS
    assert len(body.split()) > 0.9 * len(text.split()), "only the edges are judged line by line"


def test_a_long_text_without_line_breaks_is_read_in_windows_as_bounded_paragraphs():
    from bench.large_file_bench import low_vocabulary_text

    text = low_vocabulary_text(3 * 1024 * 1024, line_breaks=False)
    body = clean_text_dump(text).text
    assert body.split() == text.split(), "every word, in order"
    assert max(map(len, split_paragraphs(body))) <= textdump.MAX_PARAGRAPH_CHARS


def _citation_marks_by_look_behind(text: str) -> str:
    """The definition: marks preceded by a character that is neither a space nor "["."""
    import re

    mark = r"\[(?:\d{1,3}|[a-z][^\[\]\n]{0,40}|citation needed)\]"
    return re.sub(r"(?<=[^\s\[])(?:" + mark + ")+", "", text)


def test_citation_marks_agree_with_their_definition():
    import random

    rng = random.Random(3)
    pieces = ["a", "b", "Z", " ", "\n", "[", "]", "1", "23", "[1]", "[citation needed]", "[needs update]", ".", "x["]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert strip_citation_marks(text) == _citation_marks_by_look_behind(text), text
