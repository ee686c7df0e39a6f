"""The benchmark corpus: distinct news articles in over 40 languages, as text dumps and HTML pages.

Composed deterministically (from `CORPUS_SEED`) from the development data in the repository
(workbench/data/devdata), never from tests/:

- **text articles**: a headline and paragraphs of sentences of one language, in the format of a
  text dump (headline, blank line, paragraphs). The sentences are langid/dev50.tsv's and
  langid/dev.tsv's (50 languages; 30 sentences each, 60 in the 18 languages of dev.tsv); each
  article draws 6 to 10 of its language's sentences and shares at most 2 with any other article
  of its language, so no two are near copies for newsflow's duplicate detection (3-word shingles,
  overlap 0.4). Malay and Indonesian articles are runs of 6 to 10 consecutive lines of
  langid/ntrex_ms_id.tsv (real news stories, in their order), overlapping by at most 2 lines.
- **HTML pages**: the 23 newspaper4k pages (extraction/*.html) and the 56 readability pages
  (extraction/readability-news-pages.tar.xz, read in place), each kept whole (markup, scripts,
  menus, metadata) with its article paragraphs (the `<p>` elements whose text is in the page's
  expected article) refilled with sentences drawn, as above, from the page's own article and its
  language's sentences; every web address in the page gets the variant's own query. A page
  gives up to `PAGE_VARIANTS` variants.
- **page dumps**: every third page variant is written as the text dump of its HTML (all visible
  text, menus included: what a scraper saves), not as HTML.

`python -m bench.corpus` prints the corpus's size and its share of HTML pages, dumps and each
language (docs/quality.md quotes it). `build_corpus(target, count)` writes the first `count`
articles in an order that keeps every prefix mixed like the whole; beyond the corpus's size it
starts again with copies that each get a distinct closing line and page addresses.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import shutil
import tarfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape, unescape
from typing import TYPE_CHECKING, Callable
from pathlib import Path

from workbench.evaluation import default_devdata
from pipeline.extract import html_to_text_dump

if TYPE_CHECKING:
    from pipeline.record import Document

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = PROJECT_ROOT / "tests" / "data" / "seeds"  # the five seeds, not the checkout's seeds/ (users' own files)

CORPUS_SEED = 24
PAGE_VARIANTS = 16
TEXT_ARTICLES_PER_LANGUAGE = 40
ARTICLE_SENTENCES = (6, 10)
MAX_SHARED_SENTENCES = 2
# newspaper4k's pages by name; the rest are English. Readability pages name theirs in their metadata.
PAGE_LANGUAGES = {"arabic": "ar", "burmese": "my", "chinese": "zh", "japanese": "ja", "latvian": "lv", "spanish": "es", "thai": "th", "yna_co_kr": "ko"}
# Variants whose extracted text is another variant's (measured with `python -m bench.corpus --check`:
# the text-dump extractor reads these pages' dumps past their refilled paragraphs, and takes
# aktualne's 12 and 13 for another block); newsflow would store each group as one article.
SAME_TEXT_AS_ANOTHER = frozenset(
    [f"readability_{page}_dump_{n:02d}" for page in ("heise", "salon-1", "yahoo-2", "yahoo-3") for n in (5, 8, 11, 14)]
    + [f"{page}_dump_{n:02d}" for page in ("spanish_article", "chinese_article_001") for n in (5, 8, 11, 14)]
    + ["readability_tmz-1_dump_05", "readability_tmz-1_dump_08", "readability_herald-sun-1_dump_14", "readability_yahoo-1_dump_11"]
    + ["readability_aclu_dump_05", "readability_aclu_dump_08", "readability_aclu_dump_11", "readability_aktualne_page_12", "readability_aktualne_page_13"]
)
_PROTOCOL_RELATIVE = re.compile(r"""((?:href|content)=["'])(//[^\s"'<>?#]+)(\?[^\s"'<>#]*)?""")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])")
_PARAGRAPH = re.compile(r"(<p\b[^>]*>)(.*?)(</p>)", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Article:
    name: str  # unique; the file name's stem
    language: str  # the language its text was drawn in (ISO 639-1)
    kind: str  # "text article", "HTML page" or "page dump"
    origin: str  # where its sentences or page come from
    suffix: str
    # A page's text is made when first read: a run that writes the first 120 articles does not
    # refill the other 1,100 pages (about 8 s), and the order does not depend on any text.
    make_content: Callable[[], str] = field(repr=False, compare=False)

    @functools.cached_property
    def content(self) -> str:
        return self.make_content()


def _constant(text: str) -> Callable[[], str]:
    return lambda: text


def _plain(html: str) -> str:
    return _SPACE.sub(" ", unescape(_TAG.sub(" ", html))).strip()


def sentences_of(text: str) -> list[str]:
    return [s.strip() for line in text.splitlines() for s in _SENTENCE_END.split(line) if len(s.strip()) >= 20]


def sentence_pools(devdata: Path) -> dict[str, list[str]]:
    """Each language's development sentences (dev50 then dev), without repeats."""
    pools: dict[str, dict[str, None]] = defaultdict(dict)
    for name, kinds in (("dev50.tsv", {"sentence"}), ("dev.tsv", {"sentences"})):
        with open(devdata / "langid" / name, encoding="utf-8") as rows:
            next(rows)
            for row in rows:
                language, kind, text = row.rstrip("\n").split("\t", 2)
                if kind in kinds and text.strip():
                    pools[language][text.strip()] = None
    return {language: list(sentences) for language, sentences in pools.items()}


def ntrex_stories(devdata: Path) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = defaultdict(list)
    with open(devdata / "langid" / "ntrex_ms_id.tsv", encoding="utf-8") as rows:
        next(rows)
        for row in rows:
            language, _, text = row.rstrip("\n").split("\t", 2)
            lines[language].append(text.strip())
    return dict(lines)


def sentence_sets(pool_size: int, rng: random.Random, limit: int, attempts: int = 3000) -> list[list[int]]:
    """Up to `limit` draws of ARTICLE_SENTENCES indices into a pool, any two sharing at most
    MAX_SHARED_SENTENCES."""
    low, high = ARTICLE_SENTENCES
    chosen: list[list[int]] = []
    chosen_sets: list[set[int]] = []
    for _ in range(attempts):
        if len(chosen) >= limit or pool_size < low + 1:
            break
        pick = rng.sample(range(pool_size), min(rng.randint(low, high), pool_size - 1))
        drawn = set(pick)
        if all(len(drawn & other) <= MAX_SHARED_SENTENCES for other in chosen_sets):
            chosen.append(pick)
            chosen_sets.append(drawn)
    return chosen


def headline(sentence: str) -> str:
    """A headline cut from a sentence: its first 10 words, or 24 characters without spaces."""
    words = sentence.split()
    cut = " ".join(words[:10]) if len(words) > 3 else sentence[:24]
    return cut.rstrip(" .,;:!?。、，")


def text_article(title: str, sentences: list[str], rng: random.Random) -> str:
    paragraphs, start = [], 0
    while start < len(sentences):
        size = rng.randint(1, 3)
        paragraphs.append(" ".join(sentences[start : start + size]))
        start += size
    return title + "\n\n" + "\n\n".join(paragraphs) + "\n"


def _text_articles(devdata: Path, rng: random.Random) -> list[Article]:
    articles = []
    for language, pool in sorted(sentence_pools(devdata).items()):
        if language in ("ms", "id"):
            continue  # NTREX's stories below; dev's Indonesian sentences are short web lines
        for number, pick in enumerate(sentence_sets(len(pool), rng, limit=TEXT_ARTICLES_PER_LANGUAGE)):
            title = headline(pool[rng.choice([i for i in range(len(pool)) if i not in pick])])
            content = text_article(title, [pool[i] for i in pick], rng)
            articles.append(Article(f"{language}_text_{number:03d}", language, "text article", "dev50/dev sentences", ".txt", _constant(content)))
    for language, lines in sorted(ntrex_stories(devdata).items()):
        start, number = rng.randint(0, 4), 0
        while start + ARTICLE_SENTENCES[0] <= len(lines):
            run = lines[start : start + rng.randint(*ARTICLE_SENTENCES)]
            content = text_article(headline(run[0]), run[1:], rng)
            articles.append(Article(f"{language}_ntrex_{number:03d}", language, "text article", "NTREX news lines", ".txt", _constant(content)))
            start += len(run) - rng.randint(0, MAX_SHARED_SENTENCES)
            number += 1
    return articles


def real_pages(devdata: Path) -> list[tuple[str, str, str, str]]:
    """(name, language, html, expected article text) for every development page."""
    from langdetect import DetectorFactory, detect

    DetectorFactory.seed = 0
    pages = []
    extraction = devdata / "extraction"
    for page in sorted(extraction.glob("*.html")):
        language = next((code for prefix, code in PAGE_LANGUAGES.items() if page.stem.startswith(prefix)), "en")
        expected = page.with_suffix(".txt").read_text(encoding="utf-8", errors="replace")
        pages.append((page.stem, language, page.read_text(encoding="utf-8", errors="replace"), expected))
    with tarfile.open(extraction / "readability-news-pages.tar.xz") as archive:
        members = {member.name: member for member in archive.getmembers() if member.isfile()}
        for name in sorted(members):
            if not name.endswith("/source.html"):
                continue
            folder = name.rsplit("/", 1)[0]
            read = lambda leaf: archive.extractfile(members[f"{folder}/{leaf}"]).read().decode("utf-8", errors="replace")  # noqa: E731
            expected = "\n".join(_plain(p) for p in re.split(r"</p>|<br\s*/?>|</h\d>|</li>", read("expected.html")))
            language = (json.loads(read("expected-metadata.json")).get("lang") or detect(expected)).split("-")[0].lower()
            pages.append(("readability_" + folder.rsplit("/", 1)[1], language, read("source.html"), expected))
    return pages


def _page_variants(devdata: Path, rng: random.Random) -> list[Article]:
    pools = sentence_pools(devdata)
    articles = []
    for name, language, html, expected in real_pages(devdata):
        expected_plain = _plain(expected)
        slots = [m for m in _PARAGRAPH.finditer(html) if len(_plain(m.group(2))) >= 40 and _plain(m.group(2))[:60] in expected_plain]
        if len(slots) < 2:
            continue  # no article paragraphs in <p> elements to refill
        pool = list(dict.fromkeys(sentences_of(expected) + pools.get(language, [])))
        for number, pick in enumerate(sentence_sets(len(pool), rng, limit=PAGE_VARIANTS)):
            if f"{name}_{'dump' if number % 3 == 2 else 'page'}_{number:02d}" in SAME_TEXT_AS_ANOTHER:
                continue
            make = functools.partial(_page_variant, html, slots, [pool[i] for i in pick], f"{name}-{number}", dump=number % 3 == 2)
            if number % 3 == 2:
                articles.append(Article(f"{name}_dump_{number:02d}", language, "page dump", f"page {name}", ".txt", make))
            else:
                articles.append(Article(f"{name}_page_{number:02d}", language, "HTML page", f"page {name}", ".html", make))
    return articles


def _page_variant(html: str, slots: list[re.Match], texts: list[str], key: str, *, dump: bool) -> str:
    """The page with its article paragraphs refilled with `texts` and its addresses made its own
    (as a text dump when `dump`)."""
    per_slot = max(1, -(-len(texts) // len(slots)))
    fill = iter([" ".join(texts[k : k + per_slot]) for k in range(0, len(texts), per_slot)])
    refilled, last = [], 0
    for slot in slots:
        refilled.append(html[last : slot.start()])
        text = next(fill, None)
        if text is not None:
            refilled.append(slot.group(1) + escape(text, quote=False) + slot.group(3))
        last = slot.end()
    refilled.append(html[last:])
    variant = _own_addresses("".join(refilled), key)
    return html_to_text_dump(variant) if dump else variant


def _own_addresses(content: str, key: str) -> str:
    copy = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    content = _PAGE_ADDRESS.sub(lambda m: f"{m.group(1)}{m.group(2) + '&' if m.group(2) else '?'}copy={copy}", content)
    # a canonical address without its scheme (`href="//us.yahoo.com/news/"`) too
    return _PROTOCOL_RELATIVE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) + '&' if m.group(3) else '?'}copy={copy}", content)


@lru_cache(maxsize=2)
def news_articles(seed: int = CORPUS_SEED, devdata: Path | None = None) -> tuple[Article, ...]:
    """Every distinct article of the corpus, in an order where every prefix holds each kind and
    language in about its share of the whole (each group's members spread evenly, ties by seed)."""
    devdata = devdata or default_devdata()
    rng = random.Random(seed)
    articles = _text_articles(devdata, rng) + _page_variants(devdata, rng)
    groups: dict[tuple[str, str], list[Article]] = defaultdict(list)
    for article in articles:
        groups[(article.kind, article.language, article.origin)].append(article)
    keyed = []
    for members in groups.values():
        offset = rng.random()
        keyed += [((rank + offset) / len(members), rng.random(), article) for rank, article in enumerate(members)]
    return tuple(article for _, _, article in sorted(keyed, key=lambda item: item[:2]))


def corpus_shares(articles: tuple[Article, ...] | list[Article]) -> dict:
    n = len(articles)
    kinds = Counter(a.kind for a in articles)
    languages = Counter(a.language for a in articles)
    return {
        "articles": n,
        "distinct_texts": len({a.content for a in articles}),
        "languages": len(languages),
        "kinds": {kind: {"count": count, "share": round(count / n, 3)} for kind, count in kinds.most_common()},
        "language_shares": {language: {"count": count, "share": round(count / n, 3)} for language, count in languages.most_common()},
        "origins": dict(Counter(a.origin if not a.origin.startswith("page ") else "real pages" for a in articles).most_common()),
        "megabytes": round(sum(len(a.content.encode("utf-8")) for a in articles) / 1e6, 1),
    }


def print_shares(articles) -> None:
    shares = corpus_shares(articles)
    print(f"benchmark corpus (bench/corpus.py, seed {CORPUS_SEED}): {shares['articles']} articles ({shares['distinct_texts']} distinct texts, "
          f"{shares['megabytes']} MB), {shares['languages']} languages")
    print("  " + ", ".join(f"{kind} {v['count']} ({v['share']:.1%})" for kind, v in shares["kinds"].items()))
    print("  from: " + ", ".join(f"{origin} {count}" for origin, count in shares["origins"].items()))
    print("  languages: " + ", ".join(f"{language} {v['share']:.1%}" for language, v in shares["language_shares"].items()))


def source_documents() -> list[tuple[str, str, str]]:
    """(name, suffix, content) for every seed and devdata page, plus a text dump of each page: the
    51 texts the search and duplicate benchmarks still copy (not the news corpus above)."""
    documents = [(path.stem, ".txt", path.read_text(encoding="utf-8")) for path in sorted(SEEDS_DIR.glob("*.txt"))]
    extraction = default_devdata() / "extraction"
    if extraction.is_dir():
        for page in sorted(extraction.glob("*.html")):
            html = page.read_text(encoding="utf-8", errors="replace")
            documents.append((page.stem, ".html", html))
            documents.append((page.stem + "_dump", ".txt", html_to_text_dump(html)))
    return documents


_PAGE_ADDRESS = re.compile(r"""(https?://[^\s"'<>?#]+)(\?[^\s"'<>#]*)?""")


def with_closing_line(content: str, suffix: str, line: str) -> str:
    """`content` with `line` added inside its article text (a closing line alone would be cut as
    boilerplate, and newsflow takes two files with the same text for the same article), and every
    web address in it made the copy's own (a `copy` query parameter from `line`: the same page
    address is the same article too). Each copy is its own article."""
    copy = hashlib.sha256(line.encode("utf-8")).hexdigest()[:12]
    anchor = _article_anchor(content, suffix)
    content = _PAGE_ADDRESS.sub(lambda m: f"{m.group(1)}{m.group(2) + '&' if m.group(2) else '?'}copy={copy}", content)
    if anchor and anchor in content:
        return content.replace(anchor, f"{anchor} {line}")  # every copy of it: the page may repeat its text in metadata first
    if suffix == ".html":
        return content.replace("</body>", f"<p>{line}</p></body>", 1) if "</body>" in content else content + f"<p>{line}</p>"
    return content + f"\n{line}\n"


@lru_cache(maxsize=None)
def _article_anchor(content: str, suffix: str) -> str | None:
    """A stretch of the page's raw content that the extracted article text keeps: the end of its
    first sentence found verbatim in the page, else a shorter stretch of it found verbatim."""
    from pipeline.extract import extract_document
    from pipeline.record import Document

    fmt = "html" if suffix == ".html" else "text"
    doc = extract_document(Document(source_path="page" + suffix, raw_text=content, content_format=fmt, content_sha256="-"))
    paragraphs = (doc.text or "").split("\n\n")
    for paragraph in paragraphs:
        for end in range(min(len(paragraph), 300), 30, -1):
            if paragraph[end - 1] in ".。!?！？။" and paragraph[end - 30 : end] in content:
                return paragraph[end - 30 : end]
    for width in (30, 16, 10):
        for paragraph in paragraphs:
            for start in range(0, max(0, len(paragraph) - width), 3):
                window = paragraph[start : start + width]
                if window.strip() == window and window in content:
                    return window
    return None


def copy_of(article: Article, line: str) -> str:
    """The article's content with `line` added inside its text and, for a page, its web
    addresses made the copy's own: a copy that newsflow takes for an article of its own."""
    if article.kind == "text article":
        return article.content.rstrip("\n") + " " + line + "\n"  # inside its last paragraph
    return with_closing_line(article.content, article.suffix, line)


def corpus_file(index: int, articles: tuple[Article, ...]) -> tuple[str, str]:
    """The file name and content of the corpus's `index`-th document: the article itself in the
    first pass, then copies each with a closing line of their own."""
    article = articles[index % len(articles)]
    name = f"{index:05d}_{article.name}{article.suffix}"
    if index < len(articles):
        return name, article.content
    return name, copy_of(article, f"Corpus copy {index} of {article.name}.")


def build_corpus(target: Path, count: int = 2000) -> list[Path]:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    articles = news_articles()
    paths = []
    for index in range(count):
        name, content = corpus_file(index, articles)
        path = target / name
        path.write_text(content, encoding="utf-8")
        paths.append(path)
    return paths


def staged_sources() -> list[tuple[str, "Document"]]:
    """(name, document) for every distinct corpus source, through the real load, extract and
    language stages: what the search and duplicate benchmarks copy into a warehouse directly."""
    import tempfile

    from pipeline.extract import extract_document
    from pipeline.language import detect_language
    from pipeline.sources import load_document

    documents = []
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-sources-") as folder:
        for name, suffix, content in source_documents():
            path = Path(folder) / f"{name}{suffix}"
            path.write_text(content, encoding="utf-8")
            doc = detect_language(extract_document(load_document(path, drop_folder=Path(folder), max_bytes=50_000_000)))
            if not doc.rejected and doc.text:
                documents.append((name, doc))
    return documents


def document_copies(sources: list[tuple[str, "Document"]], count: int, start: int = 0) -> list["Document"]:
    """Documents `start` .. `start + count - 1` of the corpus, each copy of a source with its own line."""
    copies = []
    for index in range(start, start + count):
        name, doc = sources[index % len(sources)]
        text = with_closing_line(doc.text, ".txt", "\n" + f"Corpus copy {index} of {name}.").rstrip("\n")
        copies.append(
            doc.replace(
                source_path=f"corpus/{index:05d}_{name}",
                content_sha256=f"{index:064x}",
                text=text,
                text_en=text if doc.language == "en" else None,
                paragraph_languages=(*doc.paragraph_languages, doc.paragraph_languages[-1]) if doc.paragraph_languages else (),
            )
        )
    return copies


def same_text_groups(articles) -> tuple[dict[str, list[str]], list[str]]:
    """The pages and dumps that newsflow would store as one article: ({source_url: names} shared
    by several, and the rejected ones), through the pipeline's own extract stage."""
    from pipeline.extract import extract_document
    from pipeline.record import Document

    by_url, by_text, rejected = defaultdict(list), defaultdict(list), []
    for article in articles:
        if article.kind == "text article":
            continue
        fmt = "html" if article.suffix == ".html" else "text"
        sha = hashlib.sha256(article.content.encode("utf-8")).hexdigest()
        doc = extract_document(Document(source_path=article.name + article.suffix, raw_text=article.content, content_format=fmt, content_sha256=sha))
        if doc.rejected or not doc.text:
            rejected.append(article.name)
            continue
        if doc.source_url:
            by_url["url " + doc.source_url].append(article.name)
        by_text["text " + hashlib.sha256(doc.text.encode("utf-8")).hexdigest()[:12]].append(article.name)
    return {key: names for key, names in {**by_url, **by_text}.items() if len(names) > 1}, rejected


if __name__ == "__main__":
    import sys

    print_shares(news_articles())
    if "--check" in sys.argv[1:]:  # a few minutes: every page and dump through the extract stage
        groups, rejected = same_text_groups(news_articles())
        print(f"pages and dumps sharing an address or an extracted text: {groups or 'none'}; rejected: {rejected or 'none'}")
