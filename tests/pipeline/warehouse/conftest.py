"""Documents and an open warehouse for the tests of pipeline.warehouse."""

from datetime import datetime
from pathlib import Path

import pytest

from pipeline.record import Document, ParagraphLanguage
from pipeline.warehouse import Warehouse



T0 = datetime(2024, 5, 1, 12, 0, 0)


T1 = datetime(2024, 5, 2, 12, 0, 0)


FACE = "SELECT source_path, title, content_sha256, text FROM articles"


def english_doc(path: str = "seeds/a.txt", sha: str = "sha-a", text: str | None = None) -> Document:
    # each path its own text and page URL: the same text or URL would make the same article
    text = text if text is not None else f"First para of {path}.\n\nSecond para."
    return Document(
        source_path=path,
        content_sha256=sha,
        title="A title",
        author="Ann Author",
        published_at=datetime(2024, 4, 30, 8, 0),
        site_name="Example News",
        source_url=f"https://example.com/{path}",
        text=text,
        language="en",
        language_confidence=0.99,
        paragraph_languages=tuple(ParagraphLanguage("en", 0.99) for _ in text.split("\n\n")),
        text_en=text,
        translation_status="not_needed",
    )


def indonesian_doc(path: str = "seeds/b.txt", sha: str = "sha-b", status: str = "missing_model") -> Document:
    return Document(
        source_path=path,
        content_sha256=sha,
        text=f"Presiden meresmikan jembatan baru di {path}.\n\nThe bridge cost a lot.",
        language="id",
        language_confidence=0.95,
        paragraph_languages=(ParagraphLanguage("id", 0.95), ParagraphLanguage("en", 0.9)),
        translation_status=status,
    )


def rejected_doc(path: str = "seeds/empty.txt", sha: str = "sha-empty") -> Document:
    return Document(source_path=path, content_sha256=sha).reject("empty_file", "The file is empty; add text to it.")


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "news.duckdb"


@pytest.fixture
def warehouse(warehouse_path: Path):
    with Warehouse.open(warehouse_path) as opened:
        yield opened


def rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    return warehouse.query(sql)[1]
