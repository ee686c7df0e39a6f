"""A generated benchmark corpus: text dumps and HTML pages in several languages.

Built from the five seeds and the real pages of the development data (tests/data/devdata/extraction). Each copy gets
a distinct closing line so every file has its own fingerprint and is ingested for real.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.evaluation import default_devdata
from pipeline.extract import html_to_text_dump

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def source_documents() -> list[tuple[str, str, str]]:
    """(name, suffix, content) for every seed and devdata page, plus a text dump of each page."""
    documents = [(path.stem, ".txt", path.read_text(encoding="utf-8")) for path in sorted((PROJECT_ROOT / "seeds").glob("*.txt"))]
    extraction = default_devdata() / "extraction"
    if extraction.is_dir():
        for page in sorted(extraction.glob("*.html")):
            html = page.read_text(encoding="utf-8", errors="replace")
            documents.append((page.stem, ".html", html))
            documents.append((page.stem + "_dump", ".txt", html_to_text_dump(html)))
    return documents


def with_closing_line(content: str, suffix: str, line: str) -> str:
    """`content` with `line` added at the end of its text (a last paragraph in an HTML page)."""
    if suffix == ".html":
        return content.replace("</body>", f"<p>{line}</p></body>", 1) if "</body>" in content else content + f"<p>{line}</p>"
    return content + f"\n{line}\n"


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
