"""A generated benchmark corpus: text dumps and HTML pages in several languages.

Built from the five seeds and the real pages of the development data (workbench/data/devdata/extraction). Each copy gets
a distinct closing line and its own page addresses, so every file has its own fingerprint and is
its own article.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from functools import lru_cache
from typing import TYPE_CHECKING
from pathlib import Path

from workbench.evaluation import default_devdata
from pipeline.extract import html_to_text_dump

if TYPE_CHECKING:
    from pipeline.record import Document

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = PROJECT_ROOT / "tests" / "data" / "seeds"  # the five seeds, not the checkout's seeds/ (users' own files)


def source_documents() -> list[tuple[str, str, str]]:
    """(name, suffix, content) for every seed and devdata page, plus a text dump of each page."""
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


def build_corpus(target: Path, count: int = 2000) -> list[Path]:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    documents = source_documents()
    paths = []
    for index in range(count):
        name, suffix, content = documents[index % len(documents)]
        path = target / f"{index:05d}_{name}{suffix}"
        path.write_text(with_closing_line(content, suffix, f"Corpus copy {index} of {name}."), encoding="utf-8")
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
