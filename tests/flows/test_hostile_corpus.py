"""A hostile corpus, generated here: every input ends as an article or as a rejection with a reason
a person can act on, and inputs = articles + rejections. Nothing is read from outside the folder."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import duckdb
import pytest

from pipeline.sources import discover_files, load_document
from tests.conftest import NEWSFLOW, PROJECT_ROOT, SEEDS_DIR

pytestmark = pytest.mark.server

ENGLISH = (SEEDS_DIR / "002_c6f1a40e5c75d036.txt").read_text(encoding="utf-8")
RUSSIAN = "Министр иностранных дел Индонезии посетил Пхеньян впервые за десять лет, сообщили в министерстве. " * 6
GERMAN = "Der Außenminister traf am Samstag seinen Amtskollegen in Pjöngjang und sprach über Handel und Sicherheit. " * 6
CHINESE = "印度尼西亚外交部长十年来首次访问平壤。双方同意在经济、文化和教育领域开展互利合作，并表示将继续加强对话。" * 4
KHMER = "រដ្ឋមន្ត្រីការបរទេសឥណ្ឌូនេស៊ីបានទៅទស្សនកិច្ចនៅទីក្រុងព្យុងយ៉ាង។ ភាគីទាំងពីរបានព្រមព្រៀងគ្នាលើកិច្ចសហប្រតិបត្តិការ។ " * 5
ARTICLE_NAMES = [
    "with spaces.txt", "ünïcödé-日本語.txt", "quote's \"double\".txt", "new\nline.txt", "$(rm -rf ~); `x` & | ; <a>.txt",
    "-starts-with-dash.txt", "star*question?.txt",
]


def build_corpus(drop: Path) -> dict[str, str | None]:
    """name -> the rejection reason it must get, or None for an article."""
    rng = random.Random(9)
    expected: dict[str, str | None] = {}

    def put(name: str, data: bytes, reason: str | None) -> None:
        (drop / name).write_bytes(data)
        expected[name] = reason

    for name in ARTICLE_NAMES:
        put(name, ENGLISH.replace("unlikely friends", f"unlikely friends ({name!r})").encode(), None)
    put("empty.txt", b"", "empty_file")
    put("whitespace.txt", " \n\t\r\n \u3000\n".encode(), "empty_file")
    put("zero-width.txt", "\u200b\u2060\ufeff\n".encode(), "empty_file")
    put("random.txt", rng.randbytes(4096), "binary_file")
    put("zip.txt", b"PK\x03\x04" + rng.randbytes(200), "binary_file")
    put("pdf.html", b"%PDF-1.7\n" + rng.randbytes(500), "binary_file")
    put("elf.md", b"\x7fELF\x02\x01\x01" + bytes(400), "binary_file")
    put("truncated-utf8.txt", ENGLISH.encode()[:-1] + "é".encode()[:1], None)
    put("invalid-utf8.txt", ENGLISH.encode().replace(b"Korea", b"Kor\xff\xfea", 3), None)
    put("cp1251.txt", RUSSIAN.encode("cp1251"), None)
    put("cp1252.txt", GERMAN.encode("cp1252"), None)
    put("gbk.txt", CHINESE.encode("gbk"), None)
    put("utf16-no-bom-ru.txt", RUSSIAN.encode("utf-16-le"), None)
    put("utf16-no-bom-zh.txt", CHINESE.encode("utf-16-be"), None)
    put("utf32-no-bom-km.txt", KHMER.encode("utf-32-le"), None)
    put("utf16-bom.txt", b"\xff\xfe" + GERMAN.encode("utf-16-le"), None)
    put("nav-only.html", b"<html><body><nav><a href='/'>Home</a><a href='/w'>World</a></nav></body></html>", "no_article")
    put("deep.html", (
        "<html><body>" + "<div>" * 5000 + "<p>The minister met his counterpart on Saturday and discussed trade for hours.</p>" * 5
        + "</div>" * 5000 + "</body></html>"
    ).encode(), None)
    os.mkfifo(drop / "fifo.txt")
    expected["fifo.txt"] = "unreadable"
    (drop / "folder.txt").mkdir()  # a directory named like a file is walked, not read
    (drop / "folder.txt" / "inside.txt").write_text(ENGLISH.replace("unlikely friends", "unlikely friends (inside)"), encoding="utf-8")
    expected["folder.txt/inside.txt"] = None
    (drop / "loop.txt").symlink_to("loop.txt")
    expected["loop.txt"] = "unreadable"
    (drop / "passwd.txt").symlink_to("/etc/passwd")
    expected["passwd.txt"] = "outside_folder"
    (drop / "dangling.txt").symlink_to(drop / "nowhere.txt")
    expected["dangling.txt"] = "file_vanished"
    return expected


def test_every_hostile_input_ends_as_an_article_or_an_actionable_rejection(prefect_env, tmp_path):
    drop = tmp_path / "hostile"
    drop.mkdir()
    expected = build_corpus(drop)
    warehouse = tmp_path / "hostile.duckdb"

    result = subprocess.run(NEWSFLOW + ["ingest", str(drop), "--warehouse", str(warehouse)], env=prefect_env,
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stdout + result.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        # every place an article was found (the same text in three legacy encodings is one article, three places)
        articles = {row[0] for row in con.execute("select source_path from article_sources").fetchall()}
        (article_rows,) = con.execute("select count(*) from articles").fetchone()
        rejections = dict(con.execute("select path, reason from rejected_files").fetchall())
        details = [row[0] for row in con.execute("select detail from rejected_files").fetchall()]
        (seen, inserted, unchanged, rejected), = con.execute("select files_seen, inserted, unchanged, rejected from ingest_runs").fetchall()
        leaked = con.execute("select count(*) from articles where text like '%root:x:0:0%'").fetchone()[0]
    # the drop folder lies outside the project, so its paths are stored absolute
    got = {str(Path(p).relative_to(drop)): None for p in articles} | {str(Path(p).relative_to(drop)): r for p, r in rejections.items()}
    assert got == expected
    assert seen == len(expected) == inserted + unchanged + rejected == len(articles) + len(rejections)
    assert inserted == article_rows < len(articles)
    assert leaked == 0
    assert all(len(detail) > 40 and ("; " in detail or ", " in detail) for detail in details), details


@pytest.mark.parametrize("change", ["deleted", "truncated", "replaced by a folder"])
def test_a_file_changed_between_discovery_and_reading_is_accounted_for(tmp_path, change):
    drop = tmp_path / "drop"
    drop.mkdir()
    victim = drop / "story.txt"
    victim.write_text(ENGLISH, encoding="utf-8")
    (found,) = discover_files([drop])
    if change == "deleted":
        victim.unlink()
    elif change == "truncated":
        victim.write_bytes(b"")
    else:
        victim.unlink()
        victim.mkdir()

    document = load_document(found, drop_folder=tmp_path, max_bytes=1 << 20, folder=drop)

    expected = {"deleted": "file_vanished", "truncated": "empty_file", "replaced by a folder": "unreadable"}[change]
    assert document.rejected and document.rejection.reason == expected and len(document.rejection.detail) > 40
