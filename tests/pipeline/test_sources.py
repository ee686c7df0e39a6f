from __future__ import annotations

import hashlib
import os
import socket
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from pipeline.sources import (
    UndecodableError,
    confining_folder,
    decode_bytes,
    detect_binary,
    discover_files,
    display_path,
    input_folders,
    load_document,
    missing_inputs,
    sha256_bytes,
    sniff_format,
)

INDONESIAN = (
    "Menteri Luar Negeri Indonesia Sugiono mengunjungi Pyongyang pada hari Sabtu.\r\n"
    "Ini adalah kunjungan pertama seorang menteri luar negeri Indonesia dalam lebih dari satu dekade."
)
CP1252_SENTENCE = "The minister’s “quiet diplomacy” cost €2 million, officials said."
LATIN1_SENTENCE = "Le ministre a visité Pyongyang et a rencontré son homologue à l’été."
RUSSIAN = (
    "Министр иностранных дел Индонезии посетил Пхеньян впервые за десять лет. "
    "Стороны договорились о взаимовыгодном сотрудничестве."
)
CZECH = "Ministr zahraničí Indonésie navštívil Pchjongjang. Žádná dohoda nebyla podepsána, řekl mluvčí."
POLISH = (
    "Minister spraw zagranicznych Indonezji odwiedził Pjongjang po raz pierwszy od dziesięciu lat. "
    "Władza była zadowolona, a minister spotkał się z przewodniczącym."
)
MB = 1024 * 1024


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def tiny_png() -> bytes:
    """A real 1x1 PNG, built chunk by chunk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- discover_files


def test_discover_walks_folders_recursively_sorted_and_absolute(tmp_path):
    write(tmp_path / "seeds" / "b.txt", "b")
    write(tmp_path / "seeds" / "a.html", "<p>a</p>")
    write(tmp_path / "seeds" / "deep" / "er" / "c.md", "c")

    found = discover_files([tmp_path / "seeds"])

    assert found == [
        tmp_path / "seeds" / "a.html",
        tmp_path / "seeds" / "b.txt",
        tmp_path / "seeds" / "deep" / "er" / "c.md",
    ]
    assert all(path.is_absolute() for path in found)


def test_discover_skips_hidden_names_and_leftovers_when_walking(tmp_path):
    keep = write(tmp_path / "seeds" / "article.txt", "x")
    for name in [".hidden.txt", "draft.txt~", ".article.txt.swp", "note.swp", "dl.tmp", "big.html.part",
                 "page.html.crdownload", "~$report.docx"]:
        write(tmp_path / "seeds" / name, "x")
    write(tmp_path / "seeds" / ".git" / "inside.txt", "x")

    assert discover_files([tmp_path / "seeds"]) == [keep]


def test_discover_keeps_files_with_other_or_no_suffix_for_the_loader_to_sniff(tmp_path):
    write(tmp_path / "seeds" / "feed.json", "{}")
    write(tmp_path / "seeds" / "README", "x")

    names = [path.name for path in discover_files([tmp_path / "seeds"])]

    assert names == ["README", "feed.json"]


def test_discover_keeps_explicitly_named_files_whatever_their_name(tmp_path):
    hidden = write(tmp_path / ".secret.txt", "x")
    backup = write(tmp_path / "article.txt~", "x")

    assert discover_files([".secret.txt", str(backup)], base=tmp_path) == [hidden, backup]


def test_discover_expands_globs_relative_to_base(tmp_path):
    write(tmp_path / "seeds" / "one.txt", "1")
    write(tmp_path / "seeds" / "sub" / "two.txt", "2")
    write(tmp_path / "seeds" / "sub" / "page.html", "<p>")
    write(tmp_path / "seeds" / "sub" / ".hidden.txt", "x")
    write(tmp_path / "seeds" / "sub" / "old.txt.tmp", "x")

    found = discover_files(["seeds/**/*.txt"], base=tmp_path)

    assert found == [tmp_path / "seeds" / "one.txt", tmp_path / "seeds" / "sub" / "two.txt"]
    assert discover_files(["seeds/**/*.pdf"], base=tmp_path) == []


def test_discover_expands_relative_globs_from_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path / "in" / "x.md", "x")
    monkeypatch.chdir(tmp_path)

    assert discover_files(["in/*.md"]) == [tmp_path / "in" / "x.md"]


def test_discover_returns_a_missing_explicit_path_so_it_can_be_reported(tmp_path):
    found = discover_files(["nowhere/gone.txt"], base=tmp_path)

    assert found == [tmp_path / "nowhere" / "gone.txt"]
    assert load_document(found[0], drop_folder=tmp_path, max_bytes=MB).rejection.reason == "file_vanished"


def test_missing_inputs_names_paths_and_globs_that_name_nothing(tmp_path):
    write(tmp_path / "seeds" / "a.txt", "a")
    (tmp_path / "seeds" / "dangling.txt").symlink_to(tmp_path / "gone")
    inputs = ["seeds", "seeds/a.txt", "seeds/*.txt", "seeds/dangling.txt", "seeds/typo.txt", "seeds/*.pdf", str(tmp_path / "nowhere")]

    assert missing_inputs(inputs, base=tmp_path) == ["seeds/typo.txt", "seeds/*.pdf", str(tmp_path / "nowhere")]


def test_discover_deduplicates_overlapping_inputs(tmp_path):
    article = write(tmp_path / "seeds" / "a.txt", "a")

    found = discover_files(
        ["seeds", "seeds/*.txt", "seeds/a.txt", "seeds/../seeds/a.txt", article], base=tmp_path
    )

    assert found == [article]


def test_discover_survives_a_symlink_loop(tmp_path):
    article = write(tmp_path / "seeds" / "a.txt", "a")
    (tmp_path / "seeds" / "loop").symlink_to(tmp_path / "seeds", target_is_directory=True)

    found = discover_files([tmp_path / "seeds"])

    assert found == [article]


# --------------------------------------------------------------------------- display_path / sha256


def test_inside_the_drop_folder_a_path_is_stored_as_seeds_slash_its_place_wherever_the_folder_is(tmp_path):
    host, container = tmp_path / "project" / "seeds", tmp_path / "data" / "news-drop"
    assert display_path(host / "sub" / "a.txt", host) == "seeds/sub/a.txt"
    assert display_path(container / "sub" / "a.txt", container) == "seeds/sub/a.txt"  # a mount agrees with the host
    assert display_path(host, host) == "seeds"


def test_outside_the_drop_folder_a_path_is_stored_absolute(tmp_path):
    one, other = tmp_path / "one" / "index.html", tmp_path / "other" / "index.html"
    assert display_path(one, tmp_path / "seeds") == one.as_posix()
    assert display_path(one, tmp_path / "seeds") != display_path(other, tmp_path / "seeds")


def test_sha256_bytes_matches_hashlib():
    assert sha256_bytes(b"abc") == hashlib.sha256(b"abc").hexdigest()


# --------------------------------------------------------------------------- decode_bytes


def test_decode_plain_utf8_and_normalises_newlines():
    text, encoding = decode_bytes("Jakarta – Pyongyang\r\nline two\rline three".encode("utf-8"))

    assert (text, encoding) == ("Jakarta – Pyongyang\nline two\nline three", "utf-8")


def test_decode_utf8_with_bom_drops_the_bom():
    text, encoding = decode_bytes(b"\xef\xbb\xbf" + "Indonesia’s minister\r\n".encode("utf-8"))

    assert text == "Indonesia’s minister\n"
    assert encoding == "utf-8-sig"


KHMER = "រដ្ឋមន្ត្រីការបរទេសឥណ្ឌូនេស៊ីបានទៅទស្សនកិច្ចនៅទីក្រុងព្យុងយ៉ាង។ ភាគីទាំងពីរបានព្រមព្រៀងគ្នាលើកិច្ចសហប្រតិបត្តិការ។"
CHINESE = "印度尼西亚外交部长十年来首次访问平壤。双方同意在经济、文化和教育领域开展互利合作，并表示将继续加强对话。"
WIDE_ENCODINGS = ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]


@pytest.mark.parametrize("encoding", WIDE_ENCODINGS)
@pytest.mark.parametrize("language, text", [("ru", RUSSIAN), ("km", KHMER), ("zh", CHINESE), ("id", INDONESIAN)])
def test_utf16_and_utf32_without_a_byte_order_mark_decode_in_any_script(tmp_path, language, text, encoding):
    """Non-Latin scripts put no NUL bytes at fixed places, so the bytes alone must tell."""
    text = (text + "\n\n") * 3
    path = write(tmp_path / f"{language}.txt", text.encode(encoding))

    document = load_document(path, drop_folder=tmp_path, max_bytes=MB)

    assert not document.rejected, document.rejection
    assert (document.raw_text, document.encoding) == (text.replace("\r\n", "\n"), encoding)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_are_not_taken_for_utf16(seed):
    import random

    data = random.Random(seed).randbytes(4096)
    assert detect_binary(data) is not None


@pytest.mark.parametrize(
    "data, expected_encoding",
    [
        (b"\xff\xfe" + INDONESIAN.encode("utf-16-le"), "utf-16-le"),
        (b"\xfe\xff" + INDONESIAN.encode("utf-16-be"), "utf-16-be"),
        (INDONESIAN.encode("utf-16-le"), "utf-16-le"),
        (INDONESIAN.encode("utf-16-be"), "utf-16-be"),
        (b"\xff\xfe\x00\x00" + INDONESIAN.encode("utf-32-le"), "utf-32-le"),
        (b"\x00\x00\xfe\xff" + INDONESIAN.encode("utf-32-be"), "utf-32-be"),
    ],
    ids=["utf16le-bom", "utf16be-bom", "utf16le-no-bom", "utf16be-no-bom", "utf32le-bom", "utf32be-bom"],
)
def test_decode_indonesian_in_utf16_and_utf32(data, expected_encoding):
    text, encoding = decode_bytes(data)

    assert text == INDONESIAN.replace("\r\n", "\n")
    assert encoding == expected_encoding


def test_decode_cp1252_quotes_and_euro_without_mojibake():
    data = CP1252_SENTENCE.encode("cp1252")
    assert b"\x92" in data and b"\x93" in data and b"\x80" in data

    text, encoding = decode_bytes(data)

    assert text == CP1252_SENTENCE
    assert encoding == "cp1252"
    assert "â€" not in text


def test_decode_latin1_accents():
    text, encoding = decode_bytes("Le café était fermé à Montréal.".encode("latin-1"))

    assert text == "Le café était fermé à Montréal."
    assert encoding in {"cp1252", "iso8859-1"}


def test_decode_never_reinterprets_valid_utf8_even_against_a_declaration():
    original = "Café – “Indonesia’s” €5 Ã© Привет"
    data = f'<html><head><meta charset="iso-8859-1"></head><body><p>{original}</p></body></html>'.encode()

    text, encoding = decode_bytes(data, declared_charset="windows-1251")

    assert encoding == "utf-8"
    assert original in text


def test_decode_honours_html_meta_charset_cp1251():
    page = (
        '<!DOCTYPE html><html><head><meta charset="windows-1251"><title>Новости</title></head>'
        f"<body><p>{RUSSIAN}</p></body></html>"
    )

    text, encoding = decode_bytes(page.encode("cp1251"))

    assert (text, encoding) == (page, "cp1251")


def test_decode_honours_http_equiv_content_type_iso_8859_2():
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-2">'
        f"</head><body><p>{CZECH}</p></body></html>"
    )

    text, encoding = decode_bytes(page.encode("iso-8859-2"))

    assert (text, encoding) == (page, "iso8859-2")


def test_decode_honours_a_declared_charset():
    text, encoding = decode_bytes(RUSSIAN.encode("koi8-r"), declared_charset="KOI8-R")

    assert (text, encoding) == (RUSSIAN, "koi8-r")


def test_decode_ignores_an_unknown_or_impossible_declaration():
    data = CP1252_SENTENCE.encode("cp1252")

    assert decode_bytes(data, declared_charset="x-no-such-charset") == (CP1252_SENTENCE, "cp1252")
    assert decode_bytes(data, declared_charset="utf-16") == (CP1252_SENTENCE, "cp1252")


@pytest.mark.parametrize(
    "original, codec, expected_encoding",
    [
        (RUSSIAN, "cp1251", "cp1251"),
        (POLISH, "cp1250", "cp1250"),
        (CZECH, "iso-8859-2", "iso8859-2"),
        ("インドネシアの外相が平壌を訪問し、北朝鮮の外相と会談した。", "shift_jis", "cp932"),
        ("印度尼西亚外长访问平壤，与朝鲜外相举行会谈。", "gb18030", "gb18030"),
    ],
    ids=["cp1251", "cp1250", "iso-8859-2", "shift_jis", "gb18030"],
)
def test_decode_recognises_other_legacy_encodings_without_a_declaration(original, codec, expected_encoding):
    text, encoding = decode_bytes(original.encode(codec))

    assert (text, encoding) == (original, expected_encoding)


@pytest.mark.parametrize(
    "western",
    [
        "Le «président» a dit : l’appartement de 80 m² coûte 300 000 €, N° 5.",
        "¿Qué pasó? ¡Increíble! El niño comió en España por 1ª vez.",
        "La col·lecció de l’Ajuntament és a la plaça. Àlex i Mercè hi van anar.",
        "Grüße aus Köln — „Zitat“ und Straße. Preis: 5 × 3 = 15 ± 1 °C.",
        "Dansk: Ærø, Øresund, blåbær og rødgrød med fløde på en fin sommerdag.",
    ],
)
def test_decode_keeps_western_european_text_in_cp1252(western):
    assert decode_bytes(western.encode("cp1252")) == (western, "cp1252")


def test_decode_repairs_stray_cp1252_bytes_inside_utf8():
    data = "Indonesia’s “envoy” – Jakarta’s café".encode("utf-8") + b" didn\x92t say"

    text, encoding = decode_bytes(data)

    assert text == "Indonesia’s “envoy” – Jakarta’s café didn’t say"
    assert encoding == "utf-8+cp1252"


def test_decode_drops_a_utf8_character_cut_off_at_the_end():
    data = "Pyongyang – Jakarta é".encode("utf-8")[:-1]

    assert decode_bytes(data) == ("Pyongyang – Jakarta ", "utf-8")


def test_decode_raises_undecodable_for_broken_utf16_after_a_bom():
    lone_high_surrogate = b"\x00\xd8"
    data = b"\xff\xfe" + "Berita".encode("utf-16-le") + lone_high_surrogate + "hari ini".encode("utf-16-le")

    with pytest.raises(UndecodableError, match="utf-16-le"):
        decode_bytes(data)


# --------------------------------------------------------------------------- sniff_format


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("a.html", "just words, no tags", "html"),
        ("a.HTM", "x", "html"),
        ("a.xhtml", "<p>x</p>", "html"),
        ("a.txt", "Jakarta gambles on embracing North Korea.\n\nMore text.", "text"),
        ("a.txt", "  <!DOCTYPE html>\n<html><body><p>x</p></body></html>", "html"),
        ("a.txt", "<HTML lang='id'><body>x</body></HTML>", "html"),
        ("a.txt", "<!-- saved from url=(0014)about:internet -->\n<html><body>x</body></html>", "html"),
        ("a.txt", "<div>a fragment, not a saved page</div>", "text"),
        ("a.md", "# Title\n\nSome *markdown* with a <br> tag.", "text"),
        ("article", "<div class='x'><p>One</p><p>Two</p><p>Three</p></div>", "html"),
        ("article.dat", "<head><title>x</title></head> words", "html"),
        ("article", "Plain words with a < b and c > d comparison.", "text"),
        ("article", "", "text"),
    ],
)
def test_sniff_format(name, text, expected):
    assert sniff_format(Path(name), text) == expected


# --------------------------------------------------------------------------- load_document: accepted


def test_load_document_reads_a_utf8_text_file(tmp_path):
    data = "Jakarta gambles on embracing North Korea\r\n\r\nIndonesia’s minister landed.".encode("utf-8")
    path = write(tmp_path / "seeds" / "001.txt", data)

    document = load_document(path, drop_folder=tmp_path / "seeds", max_bytes=MB)

    assert document.rejection is None
    assert document.source_path == "seeds/001.txt"
    assert document.content_sha256 == hashlib.sha256(data).hexdigest()
    assert document.size_bytes == len(data)
    assert document.raw_text == "Jakarta gambles on embracing North Korea\n\nIndonesia’s minister landed."
    assert document.encoding == "utf-8"
    assert document.content_format == "text"


def test_load_document_reads_html_in_a_legacy_charset(tmp_path):
    page = f'<html><head><meta charset="windows-1251"></head><body><p>{RUSSIAN}</p></body></html>'
    path = write(tmp_path / "page.htm", page.encode("cp1251"))

    document = load_document(path, drop_folder=tmp_path, max_bytes=MB)

    assert (document.raw_text, document.encoding, document.content_format) == (page, "cp1251", "html")


def test_load_document_sniffs_html_in_a_file_without_suffix(tmp_path):
    path = write(tmp_path / "download", "<!doctype html><html><body><p>Berita</p></body></html>")

    assert load_document(path, drop_folder=tmp_path, max_bytes=MB).content_format == "html"


def test_load_document_keeps_an_absolute_path_outside_the_root(tmp_path):
    path = write(tmp_path / "outside" / "a.txt", "Berita hari ini")

    document = load_document(path, drop_folder=tmp_path / "project", max_bytes=MB)

    assert document.source_path == path.as_posix()
    assert document.rejection is None


def test_load_document_reads_utf16_text(tmp_path):
    path = write(tmp_path / "id.txt", b"\xff\xfe" + INDONESIAN.encode("utf-16-le"))

    document = load_document(path, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection is None
    assert document.raw_text == INDONESIAN.replace("\r\n", "\n")


# --------------------------------------------------------------------------- load_document: rejected


def test_reject_file_vanished_between_discovery_and_loading(tmp_path):
    path = write(tmp_path / "seeds" / "soon-gone.txt", "Berita")
    [found] = discover_files([tmp_path / "seeds"])
    path.unlink()

    document = load_document(found, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "file_vanished"
    assert "seeds/soon-gone.txt" in document.rejection.detail
    assert document.content_sha256 is None


def test_reject_file_vanished_for_a_broken_symlink(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "target-that-is-not-there.txt")

    document = load_document(link, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "file_vanished"
    assert "symbolic link" in document.rejection.detail


def test_reject_unreadable_for_a_directory_given_as_a_file(tmp_path):
    folder = tmp_path / "seeds" / "not-a-file.txt"
    folder.mkdir(parents=True)

    document = load_document(folder, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "unreadable"
    assert "seeds/not-a-file.txt" in document.rejection.detail
    assert "folder" in document.rejection.detail


def test_reject_unreadable_for_a_named_pipe_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)

    document = load_document(fifo, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "unreadable"
    assert "named pipe" in document.rejection.detail


def test_reject_unreadable_for_a_socket(tmp_path):
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        document = load_document(path, drop_folder=tmp_path, max_bytes=MB)
    finally:
        server.close()

    assert document.rejection.reason == "unreadable"
    assert "s.sock" in document.rejection.detail


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_reject_unreadable_for_a_file_without_read_permission(tmp_path):
    path = write(tmp_path / "locked.txt", "Berita")
    path.chmod(0)

    document = load_document(path, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "unreadable"
    assert "permission denied" in document.rejection.detail


def test_reject_unreadable_for_a_write_only_kernel_file_even_as_root(tmp_path):
    path = Path("/proc/sys/vm/drop_caches")  # mode 0200: read is refused even to root
    try:
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        pass
    except OSError:
        pytest.skip("no /proc/sys/vm/drop_caches here")
    else:
        pytest.skip("this system lets us read /proc/sys/vm/drop_caches")

    document = load_document(path, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "unreadable"
    assert "permission denied" in document.rejection.detail
    assert "chmod" in document.rejection.detail


def test_reject_too_large_before_reading(tmp_path):
    path = write(tmp_path / "big.txt", "x" * 2048)

    document = load_document(path, drop_folder=tmp_path, max_bytes=1000)

    assert document.rejection.reason == "too_large"
    assert document.size_bytes == 2048
    detail = document.rejection.detail
    assert "big.txt" in detail and "2048 bytes" in detail and "1000 bytes" in detail
    assert "NEWSFLOW_MAX_FILE_BYTES" in detail and "--max-file-mb" in detail


def test_a_file_exactly_at_the_limit_is_accepted(tmp_path):
    path = write(tmp_path / "edge.txt", "x" * 1000)

    assert load_document(path, drop_folder=tmp_path, max_bytes=1000).rejection is None


@pytest.mark.parametrize(
    "data",
    [b"", b"   \r\n\t\n  ", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"],
    ids=["zero-bytes", "whitespace", "bom-only", "bom-and-space"],
)
def test_reject_empty_file(tmp_path, data):
    path = write(tmp_path / "empty.txt", data)

    document = load_document(path, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "empty_file"
    assert "empty.txt" in document.rejection.detail
    assert document.content_sha256 == hashlib.sha256(data).hexdigest()
    assert document.size_bytes == len(data)


def test_reject_binary_png_and_name_the_type(tmp_path):
    png = tiny_png()
    path = write(tmp_path / "photo.txt", png)

    document = load_document(path, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "binary_file"
    assert "PNG image" in document.rejection.detail
    assert "photo.txt" in document.rejection.detail
    assert document.content_sha256 == hashlib.sha256(png).hexdigest()


def test_reject_binary_docx_names_word(tmp_path):
    path = tmp_path / "article.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")

    document = load_document(path, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "binary_file"
    assert "Word document" in document.rejection.detail


@pytest.mark.parametrize(
    "data, kind",
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF document"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", "gzip archive"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG image"),
        (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "GIF image"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8, "ELF executable"),
        (bytes(range(256)) * 4, "control bytes"),
    ],
)
def test_detect_binary_names_the_type(data, kind):
    assert kind in detect_binary(data)


@pytest.mark.parametrize(
    "data",
    [
        "Plain text with a tab\tand a form feed\f.".encode(),
        b"\xff\xfe" + INDONESIAN.encode("utf-16-le"),
        INDONESIAN.encode("utf-16-be"),
        b"BZh is how this sentence starts, and it is text.",
        b"MZANSI: a South African news site.",
    ],
)
def test_detect_binary_leaves_text_alone(data):
    assert detect_binary(data) is None


def test_reject_undecodable(tmp_path):
    data = b"\xff\xfe" + "Berita".encode("utf-16-le") + b"\x00\xd8" + "hari ini".encode("utf-16-le")
    path = write(tmp_path / "broken.txt", data)

    document = load_document(path, drop_folder=tmp_path, max_bytes=MB)

    assert document.rejection.reason == "undecodable"
    assert "broken.txt" in document.rejection.detail and "UTF-8" in document.rejection.detail
    assert document.content_sha256 == hashlib.sha256(data).hexdigest()
    assert document.raw_text is None


def test_every_input_in_a_messy_folder_becomes_a_document_and_none_raises(tmp_path):
    seeds = tmp_path / "seeds"
    write(seeds / "ok.txt", "Berita hari ini")
    write(seeds / "image.png", tiny_png())
    write(seeds / "empty.txt", b"")
    write(seeds / "legacy.txt", CP1252_SENTENCE.encode("cp1252"))
    (seeds / "sub.txt").mkdir()
    write(seeds / "sub.txt" / "inner.md", "inner")

    found = discover_files([seeds, "missing.txt"], base=tmp_path)
    documents = [load_document(path, drop_folder=seeds, max_bytes=MB) for path in found]

    outcome = {doc.source_path: doc.rejection.reason if doc.rejection else doc.encoding for doc in documents}
    assert outcome == {
        (tmp_path / "missing.txt").as_posix(): "file_vanished",  # outside the drop folder: absolute
        "seeds/empty.txt": "empty_file",
        "seeds/image.png": "binary_file",
        "seeds/legacy.txt": "cp1252",
        "seeds/ok.txt": "utf-8",
        "seeds/sub.txt/inner.md": "utf-8",
    }


# --------------------------------------------------------------------------- links


def load_found(inputs, base: Path) -> list:
    """What a run does: discover, then load each file confined to the folder it was found in.
    The documents' paths are made relative to `base` again, for short test expectations."""
    files = discover_files(inputs, base=base)
    folders = input_folders(inputs, base=base)
    documents = [load_document(path, drop_folder=base / "seeds", max_bytes=MB, folder=confining_folder(path, folders)) for path in files]
    prefix = base.as_posix() + "/"
    return [doc.replace(source_path=doc.source_path.removeprefix(prefix)) for doc in documents]


def test_a_file_linked_to_itself_is_rejected_and_the_rest_still_load(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "self.txt").symlink_to("self.txt")
    (drop / "a.txt").symlink_to("b.txt")
    (drop / "b.txt").symlink_to("a.txt")
    write(drop / "story.txt", INDONESIAN)

    documents = {doc.source_path: doc for doc in load_found([drop], tmp_path)}

    assert not documents["drop/story.txt"].rejected
    for name in ("self.txt", "a.txt", "b.txt"):
        rejection = documents[f"drop/{name}"].rejection
        assert rejection.reason == "unreadable" and "symbolic link loop" in rejection.detail, rejection


def test_links_that_leave_the_folder_being_ingested_are_rejected(tmp_path):
    drop = tmp_path / "drop"
    (drop / "sub").mkdir(parents=True)
    secret = write(tmp_path / "secret.txt", RUSSIAN)
    (drop / "passwd.txt").symlink_to("/etc/passwd")
    (drop / "secret.txt").symlink_to(secret)
    (drop / "etc").symlink_to("/etc", target_is_directory=True)
    write(drop / "sub" / "inside.txt", INDONESIAN)
    (drop / "alias.txt").symlink_to(drop / "sub" / "inside.txt")  # stays inside: fine

    documents = {doc.source_path: doc for doc in load_found([drop], tmp_path)}

    assert not documents["drop/sub/inside.txt"].rejected and not documents["drop/alias.txt"].rejected
    for name in ("passwd.txt", "secret.txt", "etc"):
        rejection = documents[f"drop/{name}"].rejection
        assert rejection is not None and rejection.reason == "outside_folder", (name, rejection)
        assert "outside the folder" in rejection.detail
    assert not any(path.startswith("drop/etc/") for path in documents), "a linked folder outside is not walked"
    assert all(doc.raw_text is None for doc in documents.values() if doc.rejected)


def test_a_path_named_explicitly_is_read_even_through_a_link(tmp_path):
    secret = write(tmp_path / "elsewhere" / "story.txt", INDONESIAN)
    link = tmp_path / "link.txt"
    link.symlink_to(secret)

    (document,) = load_found([link], tmp_path)

    assert not document.rejected and "Sugiono" in document.raw_text


def test_confining_folder_is_the_innermost_input_folder_holding_the_path(tmp_path):
    outer, inner = tmp_path / "a", tmp_path / "a" / "b"
    assert confining_folder(inner / "x.txt", [outer, inner]) == inner
    assert confining_folder(outer / "x.txt", [outer, inner]) == outer
    assert confining_folder(tmp_path / "x.txt", [outer, inner]) is None


# --------------------------------------------------------------------------- iter_files (streaming discovery)


def test_iter_files_streams_the_same_files_as_discover_files_each_once(tmp_path):
    from pipeline.sources import iter_files

    seeds = tmp_path / "seeds"
    (seeds / "b" / "c").mkdir(parents=True)
    for name in ("z.txt", "a.txt", "b/y.html", "b/c/x.txt", ".hidden.txt", "b/draft.swp"):
        (seeds / name).write_text("text")
    inputs = [seeds / "b", seeds, seeds / "a.txt", "seeds/**/*.txt"]
    streamed = list(iter_files(inputs, base=tmp_path))
    assert len(streamed) == len(set(streamed)) == 4  # the inner folder, then the rest of the outer one
    assert sorted(streamed) == discover_files(inputs, base=tmp_path)
    assert streamed[:2] == [seeds / "b" / "y.html", seeds / "b" / "c" / "x.txt"] or streamed[:2] == [
        seeds / "b" / "c" / "x.txt",
        seeds / "b" / "y.html",
    ]


def test_iter_files_is_lazy_a_huge_folder_is_not_listed_before_the_first_file(tmp_path):
    from pipeline.sources import iter_files

    seeds = tmp_path / "seeds"
    for index in range(50):
        folder = seeds / f"d{index:02d}"
        folder.mkdir(parents=True)
        (folder / "a.txt").write_text("text")
    found = iter_files([seeds])
    first = next(found)
    assert first == seeds / "d00" / "a.txt"
    # the walk has not listed the last folder yet: a file put there now is still found
    (seeds / "d49" / "late.txt").write_text("text")
    assert list(found)[-1] == seeds / "d49" / "late.txt"
