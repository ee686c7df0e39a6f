"""Sources: find input files, fingerprint their bytes and decode them to text.

`load_document` is the stage function. It never raises for bad input: a file that
cannot become text comes back as a rejected `Document` whose detail names the file
and what to do about it, so nothing is lost silently.
"""

from __future__ import annotations

import codecs
import errno
import glob
import hashlib
import math
import os
import re
import stat
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from pipeline.record import Document
from pipeline.settings import HTML_SUFFIXES, TEXT_SUFFIXES

# Skipped when walking folders or expanding globs; an explicitly named file is always kept.
LEFTOVER_SUFFIXES = frozenset({".swp", ".swo", ".tmp", ".part", ".crdownload"})
LEFTOVER_NAMES = frozenset({"thumbs.db", "desktop.ini"})

REJECT_FILE_VANISHED = "file_vanished"
REJECT_UNREADABLE = "unreadable"
REJECT_TOO_LARGE = "too_large"
REJECT_EMPTY_FILE = "empty_file"
REJECT_BINARY_FILE = "binary_file"
REJECT_UNDECODABLE = "undecodable"
REJECT_OUTSIDE_FOLDER = "outside_folder"


class UndecodableError(ValueError):
    """No encoding turns the bytes into plausible text."""


# --------------------------------------------------------------------------- discovery

_GLOB_MAGIC = re.compile(r"[*?[]")


def discover_files(inputs: Sequence[str | Path], *, base: Path | None = None) -> list[Path]:
    """Expand folders (recursively), glob patterns and explicit paths into sorted absolute paths.

    Relative inputs are taken relative to `base` (default: the current directory).
    Hidden names and editor/partial-download leftovers are skipped while walking and
    globbing; explicitly named paths are kept as given, even when they do not exist,
    so that the loader can report them. (`iter_files` finds the same files one at a time.)
    """
    return sorted(iter_files(inputs, base=base), key=str)


def iter_files(inputs: Sequence[str | Path], *, base: Path | None = None) -> Iterator[Path]:
    """The files of `discover_files`, found one at a time in a fixed order (each input in turn,
    each folder walked in name order), so a folder of a million files is never listed whole.

    A file reached through two inputs is given once. Only what is needed for that is kept:
    the paths named explicitly or by a glob, and the folders walked (a file inside an
    earlier folder is known by its folder, not remembered one by one)."""
    base_dir = Path(os.path.abspath(base if base is not None else os.getcwd()))
    walked: list[str] = []
    named: set[str] = set()

    def fresh(path: Path) -> Path | None:
        absolute = os.path.abspath(path)
        if absolute in named or any(is_within(absolute, folder) and absolute != folder for folder in walked):
            return None
        named.add(absolute)
        return Path(absolute)

    def walk(folder: Path) -> Iterator[Path]:
        absolute = os.path.abspath(folder)
        if any(is_within(absolute, earlier) for earlier in walked):
            return
        earlier_named, earlier_walked = set(named), list(walked)  # a folder inside this one, walked first
        walked.append(absolute)
        for file in _walk_folder(Path(absolute)):
            if str(file) not in earlier_named and not any(is_within(str(file), inner) for inner in earlier_walked):
                yield file

    for item in inputs:
        raw = os.path.expanduser(str(item))
        path = Path(raw) if os.path.isabs(raw) else base_dir / raw
        if path.is_dir():
            yield from walk(path)
        elif path.exists() or path.is_symlink() or not _GLOB_MAGIC.search(raw):
            if (file := fresh(path)) is not None:
                yield file
        else:
            for match in sorted(glob.glob(raw, root_dir=base_dir, recursive=True)):
                matched = Path(match) if os.path.isabs(match) else base_dir / match
                if matched.is_dir():
                    yield from walk(matched)
                elif not is_leftover(matched.name) and (file := fresh(matched)) is not None:
                    yield file


def missing_inputs(inputs: Sequence[str | Path], *, base: Path | None = None) -> list[str]:
    """The inputs that name nothing: a path that does not exist, or a glob that matches nothing.

    Checked before a run starts, so a mistyped path on the command line is an error, not a
    rejection. (A file that vanishes during a run is still rejected as `file_vanished`.)
    """
    base_dir = Path(os.path.abspath(base if base is not None else os.getcwd()))
    missing = []
    for item in inputs:
        raw = os.path.expanduser(str(item))
        path = Path(raw) if os.path.isabs(raw) else base_dir / raw
        if os.path.lexists(path):
            continue
        if _GLOB_MAGIC.search(raw) and glob.glob(raw, root_dir=base_dir, recursive=True):
            continue
        missing.append(str(item))
    return missing


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def is_leftover(name: str) -> bool:
    """Editor backups, swap files, partial downloads and OS clutter."""
    lowered = name.lower()
    return (
        name.endswith("~")
        or name.startswith("~$")  # Office lock files
        or Path(lowered).suffix in LEFTOVER_SUFFIXES
        or lowered in LEFTOVER_NAMES
    )


def _walk_folder(top: Path) -> Iterator[Path]:
    seen_dirs: set[str] = set()  # folders only: a symlink loop or a folder linked twice
    top_real = os.path.realpath(top)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        visible = sorted(d for d in dirnames if not is_hidden(d))
        # A linked folder that leaves the folder being walked is not walked: the link itself is
        # listed, so that it ends as a rejection rather than as files from elsewhere.
        leaving = [d for d in visible if not is_within(os.path.realpath(os.path.join(dirpath, d)), top_real)]
        dirnames[:] = [d for d in visible if d not in leaving]
        listed = [name for name in leaving]
        listed += [name for name in filenames if not is_hidden(name) and not is_leftover(name)]
        for name in sorted(listed):
            yield Path(dirpath) / name


def input_folders(inputs: Sequence[str | Path], *, base: Path | None = None) -> list[Path]:
    """The folders among `inputs` (as absolute paths, not resolved): the files found in one of
    them must not lead out of it through a link."""
    base_dir = Path(os.path.abspath(base if base is not None else os.getcwd()))
    folders = []
    for item in inputs:
        raw = os.path.expanduser(str(item))
        path = Path(os.path.abspath(raw if os.path.isabs(raw) else base_dir / raw))
        if path.is_dir():
            folders.append(path)
        elif _GLOB_MAGIC.search(raw) and not path.exists():
            for match in glob.glob(raw, root_dir=base_dir, recursive=True):
                matched = Path(os.path.abspath(match if os.path.isabs(match) else base_dir / match))
                if matched.is_dir():
                    folders.append(matched)
    return folders


def confining_folder(path: Path, folders: Sequence[Path]) -> Path | None:
    """The innermost of `folders` that holds `path` as written (before links are followed),
    or None for a path named on its own."""
    absolute = os.path.abspath(path)
    holding = [folder for folder in folders if is_within(absolute, os.path.abspath(folder)) and absolute != os.path.abspath(folder)]
    return max(holding, key=lambda folder: len(str(folder)), default=None)


def is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


DROP_FOLDER_NAME = "seeds"


def display_path(path: Path, drop_folder: Path) -> str:
    """The path as stored in the warehouse: inside the drop folder, 'seeds/' and the path within
    it, wherever the folder lies or is mounted (the host's ./seeds and a container's /data/seeds
    agree); anywhere else, the absolute path (two folders' index.html never collide)."""
    absolute = Path(os.path.abspath(path))
    drop = Path(os.path.abspath(drop_folder))
    for candidate, anchor in ((absolute, drop), (Path(os.path.realpath(absolute)), Path(os.path.realpath(drop)))):
        try:
            relative = candidate.relative_to(anchor)
        except ValueError:
            continue
        return f"{DROP_FOLDER_NAME}/{relative.as_posix()}" if relative.parts else DROP_FOLDER_NAME
    return absolute.as_posix()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- binary detection

# (prefix, offset, name): checked in order against the first bytes of the file.
_MAGIC_NUMBERS: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG image"),
    (b"\xff\xd8\xff", 0, "JPEG image"),
    (b"GIF87a", 0, "GIF image"),
    (b"GIF89a", 0, "GIF image"),
    (b"%PDF-", 0, "PDF document"),
    (b"\x1f\x8b", 0, "gzip archive"),
    (b"BZh", 0, None),  # bzip2 needs a closer look, see _detect_magic
    (b"\xfd7zXZ\x00", 0, "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7-Zip archive"),
    (b"Rar!\x1a\x07", 0, "RAR archive"),
    (b"\x28\xb5\x2f\xfd", 0, "zstd archive"),
    (b"\x7fELF", 0, "ELF executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "legacy Microsoft Office document (.doc/.xls/.ppt)"),
    (b"SQLite format 3\x00", 0, "SQLite database"),
    (b"\xca\xfe\xba\xbe", 0, "Java class file or Mach-O binary"),
    (b"\xcf\xfa\xed\xfe", 0, "Mach-O binary"),
    (b"\x00asm", 0, "WebAssembly module"),
    (b"PAR1", 0, None),  # parquet: only with a NUL close by, see _detect_magic
    (b"OggS\x00", 0, "Ogg media file"),
    (b"fLaC", 0, None),
    (b"II*\x00", 0, "TIFF image"),
    (b"MM\x00*", 0, "TIFF image"),
    (b"\x00\x00\x01\x00", 0, "Windows icon"),
    (b"wOFF", 0, "WOFF font"),
    (b"wOF2", 0, "WOFF2 font"),
    (b"ftyp", 4, "MP4/QuickTime media file (or HEIC image)"),
)

_ZIP_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"word/", "Word document (.docx, a ZIP archive)"),
    (b"xl/", "Excel workbook (.xlsx, a ZIP archive)"),
    (b"ppt/", "PowerPoint presentation (.pptx, a ZIP archive)"),
    (b"mimetypeapplication/epub+zip", "EPUB e-book (a ZIP archive)"),
    (b"mimetypeapplication/vnd.oasis.opendocument", "OpenDocument file (a ZIP archive)"),
)

_RIFF_KINDS = {b"WEBP": "WebP image", b"WAVE": "WAV audio file", b"AVI ": "AVI video file"}

# C0 control bytes that do not occur in text (tab, newlines, form feed and ESC are fine).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"
_CONTROL_TABLE = bytes.maketrans(_CONTROL_BYTES, b"\x00" * len(_CONTROL_BYTES))
BINARY_CONTROL_SHARE = 0.05
_SNIFF_BYTES = 8192


def detect_binary(data: bytes) -> str | None:
    """Name of the binary type the bytes look like ("PNG image", ...), or None for text."""
    kind = _detect_magic(data)
    if kind:
        return kind
    sample = data[:_SNIFF_BYTES]
    if not sample or _bom_encoding(sample) or _bomless_wide_encoding(sample):
        return None
    controls = sample.translate(_CONTROL_TABLE).count(0)
    if controls / len(sample) > BINARY_CONTROL_SHARE:
        return "binary file (many control bytes)"
    return None


def _detect_magic(data: bytes) -> str | None:
    head = data[:64]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        window = data[:_SNIFF_BYTES]
        return next((kind for marker, kind in _ZIP_KINDS if marker in window), "ZIP archive")
    if head.startswith(b"RIFF") and len(head) >= 12:
        return _RIFF_KINDS.get(head[8:12], "RIFF media file")
    if head.startswith(b"ID3") and len(head) > 3 and head[3] < 0x10:
        return "MP3 audio file"
    if head.startswith(b"MZ") and b"\x00" in head:
        return "Windows executable"
    for prefix, offset, kind in _MAGIC_NUMBERS:
        if head[offset:offset + len(prefix)] != prefix:
            continue
        if kind is not None:
            return kind
        # Short ASCII magics ("BZh", "PAR1", "fLaC") could begin a sentence: require NULs too.
        if b"\x00" in head:
            return {b"BZh": "bzip2 archive", b"PAR1": "Parquet file", b"fLaC": "FLAC audio file"}[prefix]
    return None


# --------------------------------------------------------------------------- decoding

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 LE must come before UTF-16 LE: its BOM starts with the UTF-16 LE one.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Browsers (WHATWG Encoding Standard) read these labels as something wider; so do we.
_CHARSET_ALIASES = {
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "l1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "cp1252": "windows-1252",
    "windows-1252": "windows-1252",
    "x-cp1252": "windows-1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
}

_META_CHARSET = re.compile(
    rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)"""
    rb"""|<\?xml\b[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""",
    re.IGNORECASE,
)

# WHATWG windows-1252: cp1252 with its five undefined bytes mapped to the C1 controls.
_WINDOWS_1252_TABLE = "".join(bytes([i]).decode("cp1252", errors="ignore") or chr(i) for i in range(256))

_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_UTF8_OR_ASCII = re.compile(_UTF8_MULTIBYTE.pattern + rb"|[\x00-\x7f]+")
# Characters that do not belong in decoded text: C0/C1 controls (not whitespace), the
# replacement character, private use and lone surrogates.
_IMPLAUSIBLE_CHARS = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff\ud800-\udfff]")
IMPLAUSIBLE_CHAR_SHARE = 0.05

_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
# In a windows-1252 reading of Central European text (cp1250, iso-8859-2), letters such as
# ł ą š ž show up as symbols in the middle of words: "w³adza", "nav¹tívil".
_SYMBOL_INSIDE_WORD = re.compile(r"(?<=[^\W\d_])[\x80-\x9f¡¢£¤¥¦§¨©¬®¯±²³¶¸¹¼½¾¿×÷ƒ†‡ˆ‰‹›](?=[^\W\d_])")
# charset-normalizer guesses that mean "windows-1252 is right after all" (codecs.lookup names).
_WESTERN_ENCODINGS = frozenset({"cp1252", "iso8859-1", "iso8859-15", "ascii", "utf-8"})
_CENTRAL_EUROPEAN_ENCODINGS = ("cp1250", "iso8859-2")
_LEGACY_SAMPLE_CHARS = 65536


def decode_bytes(data: bytes, *, declared_charset: str | None = None) -> tuple[str, str]:
    """Decode file bytes to text; return (text, encoding name).

    Order: byte-order mark; UTF-16/32 recognised by their NUL bytes; strict UTF-8
    (valid UTF-8 is never reinterpreted); the declared charset, then an HTML/XML
    charset declaration found in the first 4 KB; UTF-8 with a few stray windows-1252
    bytes; windows-1252 unless the text plainly is in another legacy encoding, in
    which case charset-normalizer names it. Newlines become '\\n', the BOM is dropped.
    Raises UndecodableError when nothing yields plausible text.
    """
    text, encoding = _decode(data, declared_charset)
    return normalise_newlines(text).lstrip("\ufeff").replace("\x00", ""), encoding


def normalise_newlines(text: str) -> str:
    return (
        text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    )


def _decode(data: bytes, declared_charset: str | None) -> tuple[str, str]:
    bom_encoding = _bom_encoding(data)
    if bom_encoding:
        # "utf-8-sig" drops its own BOM; the explicit-endian UTF-16/32 codecs do not.
        body = data if bom_encoding == "utf-8-sig" else data[len(_bom_for(bom_encoding)) :]
        text = _strict(body, bom_encoding)
        if text is None or not looks_like_text(text):
            raise UndecodableError(f"it starts with a {bom_encoding} byte-order mark but is not valid {bom_encoding}")
        return text, bom_encoding

    wide = _utf16_32_by_nul_pattern(data[:_SNIFF_BYTES])
    if wide:
        text = _strict(data, wide)
        if text is not None and looks_like_text(text):
            return text, wide

    utf8 = _decode_utf8(data)
    if utf8 is not None and looks_like_text(utf8):
        return utf8, "utf-8"
    # Cyrillic and other scripts in UTF-16 can be valid UTF-8 too, as ASCII full of control bytes.
    wide = _bomless_wide_encoding(data[:_SNIFF_BYTES])
    if wide:
        text = _strict(data, wide)
        if text is not None and looks_like_text(text):
            return text, wide
    if utf8 is not None:
        raise UndecodableError("it is valid UTF-8 but full of control characters")

    for label in (declared_charset, sniff_declared_charset(data)):
        decoded = _decode_declared(data, label)
        if decoded is not None:
            return decoded

    text = _decode_mostly_utf8(data)
    if text is not None:
        return text, "utf-8+cp1252"

    return _decode_legacy(data)


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def _bom_for(encoding: str) -> bytes:
    return next(bom for bom, name in _BOMS if name == encoding)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _utf16_32_by_nul_pattern(sample: bytes) -> str | None:
    """UTF-16/32 without a BOM: mostly-Latin text puts NULs at fixed byte positions."""
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    size4 = len(sample) - len(sample) % 4
    columns4 = [sample[i:size4:4].count(0) / (size4 // 4) for i in range(4)]
    if min(columns4[1:]) > 0.9 and columns4[0] < 0.1:
        return "utf-32-le"
    if min(columns4[:3]) > 0.9 and columns4[3] < 0.1:
        return "utf-32-be"
    size2 = len(sample) - len(sample) % 2
    even = sample[0:size2:2].count(0) / (size2 // 2)
    odd = sample[1:size2:2].count(0) / (size2 // 2)
    if odd > 0.3 and even < 0.05:
        return "utf-16-le"
    if even > 0.3 and odd < 0.05:
        return "utf-16-be"
    return None


# Below this share of control bytes, bytes that are not UTF-8 are a single-byte legacy encoding.
WIDE_TRIAL_CONTROL_SHARE = 0.03
# A wide decoding must read as text: letters, marks, digits, spaces and punctuation.
WIDE_TEXT_SHARE = 0.97
_WIDE_CODECS = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_TEXT_CATEGORIES = frozenset({"L", "M", "N", "Z", "P", "S"})


def _bomless_wide_encoding(sample: bytes) -> str | None:
    """UTF-16/32 without a byte-order mark. Mostly-Latin text shows itself by its NUL bytes;
    other scripts (Cyrillic, Khmer, Chinese...) are told by decoding the sample each way."""
    by_nul_pattern = _utf16_32_by_nul_pattern(sample)
    if by_nul_pattern:
        return by_nul_pattern
    controls = sample.translate(_CONTROL_TABLE).count(0)
    if len(sample) < 8 or controls / len(sample) < WIDE_TRIAL_CONTROL_SHARE:
        return None
    candidates = [(score, codec) for codec in _WIDE_CODECS if (score := _wide_text_score(sample, codec)) is not None]
    return max(candidates)[1] if candidates else None


def _wide_text_score(sample: bytes, codec: str) -> float | None:
    """None unless the sample decodes as text; otherwise higher for text written in fewer
    256-code-point blocks, as a script is (the wrong byte order scatters the characters)."""
    unit = 4 if codec.startswith("utf-32") else 2
    body = sample[: len(sample) - len(sample) % unit]
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as error:
        if error.start < len(body) - 4:  # only a character cut at the end of the sample is forgiven
            return None
        text = body[: error.start].decode(codec)
    if not text:
        return None
    textual = sum(char in "\n\r\t" or unicodedata.category(char)[0] in _TEXT_CATEGORIES for char in text)
    if textual / len(text) < WIDE_TEXT_SHARE:
        return None
    blocks = Counter(ord(char) >> 8 for char in text)
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in blocks.values())
    return -entropy


def _decode_utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        # A download cut off in the middle of the last character: keep everything before it.
        if error.reason == "unexpected end of data" and error.start >= len(data) - 3:
            return _strict(data[: error.start], "utf-8")
        return None


def sniff_declared_charset(data: bytes) -> str | None:
    """The charset named by an HTML <meta> tag or an XML declaration in the first 4 KB."""
    match = _META_CHARSET.search(data[:4096])
    if not match:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii").strip().lower()
    return label or None


def _decode_declared(data: bytes, label: str | None) -> tuple[str, str] | None:
    if not label:
        return None
    label = _CHARSET_ALIASES.get(label.strip().lower(), label.strip().lower())
    if label == "windows-1252":
        text = decode_windows_1252(data)
        return (text, "cp1252") if looks_like_text(text) else None
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        return None
    if codec.startswith(("utf-16", "utf-32")):  # a byte-oriented page cannot really be UTF-16
        return None
    text = _strict(data, codec)
    if text is None or not looks_like_text(text):
        return None
    return text, codec


def decode_windows_1252(data: bytes) -> str:
    return codecs.charmap_decode(data, "strict", _WINDOWS_1252_TABLE)[0]


def _decode_mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few stray windows-1252 bytes (a common result of pasting): repair in place."""
    valid = len(_UTF8_MULTIBYTE.findall(data))
    stray = len(_UTF8_OR_ASCII.sub(b"", data))
    if valid < 2 or stray * 4 > valid:
        return None
    text = data.decode("utf-8", errors=_STRAY_BYTES_AS_CP1252)
    return text if looks_like_text(text) else None


def _stray_bytes_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return decode_windows_1252(error.object[error.start : error.end]), error.end


_STRAY_BYTES_AS_CP1252 = "newsflow.stray-bytes-as-cp1252"
codecs.register_error(_STRAY_BYTES_AS_CP1252, _stray_bytes_as_cp1252)


def _decode_legacy(data: bytes) -> tuple[str, str]:
    """windows-1252, unless its reading plainly shows another script or a Central European encoding."""
    western = decode_windows_1252(data)
    sample = western[:_LEGACY_SAMPLE_CHARS]
    western_symbols = len(_SYMBOL_INSIDE_WORD.findall(sample))
    other_script = _non_latin_letter_share(sample) > 0.3
    western_plausible = looks_like_text(western)
    if not other_script and not western_symbols and western_plausible:
        return western, "cp1252"

    candidates = _charset_normalizer_guesses(data)
    if western_symbols:
        # charset-normalizer often ranks cp1252 first for short Polish or Czech text.
        candidates += [codec for codec in _CENTRAL_EUROPEAN_ENCODINGS if codec not in candidates]
    best: tuple[int, str, str] | None = None
    for codec in candidates:
        text = _strict(data, codec)
        if text is None or not looks_like_text(text):
            continue
        symbols = len(_SYMBOL_INSIDE_WORD.findall(text[:_LEGACY_SAMPLE_CHARS]))
        better_than_western = other_script or not western_plausible or symbols < western_symbols
        if better_than_western and (best is None or symbols < best[0]):
            best = (symbols, text, codec)
    if best is not None:
        return best[1], best[2]
    if not other_script and western_plausible:
        return western, "cp1252"
    raise UndecodableError("it is not UTF-8 and its legacy encoding could not be recognised")


def _non_latin_letter_share(text: str) -> float:
    """Share of letters outside A-Z in a windows-1252 reading; high means another script."""
    letters = len(_LETTER.findall(text))
    if letters < 12:
        return 0.0
    return 1 - len(_ASCII_LETTER.findall(text)) / letters


def _charset_normalizer_guesses(data: bytes) -> list[str]:
    """Encodings charset-normalizer finds coherent, best first, without the windows-1252 family."""
    from charset_normalizer import from_bytes

    guesses: list[str] = []
    for match in from_bytes(data):
        if match.chaos > 0.2:
            continue
        try:
            codec = codecs.lookup(match.encoding).name
        except LookupError:
            continue
        if codec not in _WESTERN_ENCODINGS and codec not in guesses:
            guesses.append(codec)
    return guesses


def looks_like_text(text: str) -> bool:
    """False when controls, replacement characters or private-use characters are too common."""
    if not text:
        return True
    return len(_IMPLAUSIBLE_CHARS.findall(text)) / len(text) <= IMPLAUSIBLE_CHAR_SHARE


# --------------------------------------------------------------------------- format

_HTML_PAGE_START = re.compile(
    r"\A(?:\s|<!--.*?-->|<\?xml[^>]*>)*(?:<!doctype\s+html|<html[\s>])", re.IGNORECASE | re.DOTALL
)
_HTML_STRUCTURE = re.compile(r"<(?:body|head)[\s>]", re.IGNORECASE)
_HTML_TAG = re.compile(
    r"</?(?:p|div|br|span|a|article|section|header|footer|nav|main|meta|title|table|tr|td|li|ul|ol"
    r"|h[1-6]|script|style|link|img|strong|em|b|i)\b[^<>]*>",
    re.IGNORECASE,
)
_FORMAT_SAMPLE_CHARS = 16384


def sniff_format(path: Path, text: str) -> str:
    """"html" or "text": by suffix first; a text suffix holding a full saved page is html too."""
    suffix = Path(path).suffix.lower()
    if suffix in HTML_SUFFIXES:
        return "html"
    head = text[:_FORMAT_SAMPLE_CHARS].lstrip("\ufeff")
    if _HTML_PAGE_START.match(head):
        return "html"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if _HTML_STRUCTURE.search(head):
        return "html"
    tags = _HTML_TAG.findall(head)
    if len(tags) >= 3 and len(tags) * 1000 >= len(head):  # at least one tag per 1000 characters
        return "html"
    return "text"


# --------------------------------------------------------------------------- the stage


def load_document(path: Path, *, drop_folder: Path, max_bytes: int, folder: Path | None = None) -> Document:
    """Read one file into a Document (raw text, encoding, format, sha256), or a rejected one.

    Never raises for bad input. The size is checked before anything is read; the
    sha256 is computed whenever the bytes could be read, also for rejected files.
    A file found in `folder` whose links lead out of it is rejected unread.
    """
    source = display_path(Path(path), drop_folder)
    document = Document(source_path=source)
    if folder is not None:
        target = os.path.realpath(path)
        if not is_within(target, os.path.realpath(folder)):
            return document.reject(
                REJECT_OUTSIDE_FOLDER,
                f"{source} is a link to {target}, outside the folder {display_path(Path(folder), drop_folder)} being "
                "ingested, and newsflow does not follow links out of it; copy the file into the folder, "
                "or name it on the command line to read it anyway.",
            )

    data_or_rejection = _read_bytes(Path(path), source, max_bytes)
    if isinstance(data_or_rejection, tuple):
        reason, detail, size = data_or_rejection
        return document.replace(size_bytes=size).reject(reason, detail)
    data = data_or_rejection
    document = document.replace(content_sha256=sha256_bytes(data), size_bytes=len(data))

    if not data:
        return document.reject(REJECT_EMPTY_FILE, f"{source} is empty (0 bytes); put the article in it or remove it.")
    binary_kind = detect_binary(data)
    if binary_kind:
        return document.reject(
            REJECT_BINARY_FILE,
            f"{source} is a {binary_kind}, not text or HTML; export the article as .html or .txt "
            "and add that instead, or remove the file.",
        )
    try:
        text, encoding = decode_bytes(data)
    except UndecodableError as error:
        return document.reject(
            REJECT_UNDECODABLE,
            f"{source} could not be decoded as text ({error}); re-save it as UTF-8 and add it again.",
        )
    if not text.strip().strip("\u200b\u2060\ufeff"):
        return document.reject(
            REJECT_EMPTY_FILE,
            f"{source} holds only whitespace ({len(data)} bytes); put the article in it or remove it.",
        )
    return document.replace(raw_text=text, encoding=encoding, content_format=sniff_format(Path(path), text))


def _read_bytes(path: Path, source: str, max_bytes: int) -> bytes | tuple[str, str, int]:
    """The file's bytes, or (reason, detail, size) when they cannot or should not be read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer.
        fd = os.open(path, flags)
    except FileNotFoundError:
        return REJECT_FILE_VANISHED, _vanished_detail(path, source), 0
    except NotADirectoryError:
        detail = f"{source} does not exist (a part of its path is a file, not a folder); check the path."
        return REJECT_FILE_VANISHED, detail, 0
    except OSError as error:
        return REJECT_UNREADABLE, _unreadable_detail(source, error), 0

    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return REJECT_UNREADABLE, _unreadable_detail(source, IsADirectoryError()), 0
        if not stat.S_ISREG(info.st_mode):
            return REJECT_UNREADABLE, (
                f"{source} is a {_file_kind(info.st_mode)}, not a regular file; copy its content into "
                "a regular file and add that instead."
            ), 0
        if max_bytes > 0 and info.st_size > max_bytes:
            return REJECT_TOO_LARGE, _too_large_detail(source, info.st_size, max_bytes), info.st_size
        with open(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1 if max_bytes > 0 else -1)
    except OSError as error:
        return REJECT_UNREADABLE, _unreadable_detail(source, error), 0
    finally:
        os.close(fd)
    if max_bytes > 0 and len(data) > max_bytes:  # it grew after the size check
        return REJECT_TOO_LARGE, _too_large_detail(source, len(data), max_bytes), len(data)
    return data


def _vanished_detail(path: Path, source: str) -> str:
    if os.path.islink(path):
        target = os.readlink(path)
        return f"{source} is a symbolic link to {target}, which does not exist; fix or remove the link."
    return (
        f"{source} does not exist (it was named as an input, or removed after it was found); "
        "check the path, or ignore this if the file was deleted on purpose."
    )


def _unreadable_detail(source: str, error: OSError) -> str:
    if isinstance(error, PermissionError):
        return (
            f"{source} cannot be read: permission denied (PermissionError); make it readable by the "
            "user running newsflow (for example chmod a+r) and run again."
        )
    if isinstance(error, IsADirectoryError):
        return (
            f"{source} is a folder, not a file (IsADirectoryError); give the folder as an input "
            "so its files are discovered, or name a file inside it."
        )
    if error.errno == errno.ELOOP:
        return f"{source} is a symbolic link loop (it leads back to itself, {error.strerror}); fix or remove the link."
    reason = error.strerror or str(error)
    return (
        f"{source} could not be read ({type(error).__name__}: {reason}); check its permissions "
        "and that the disk or share it lives on is reachable, then run again."
    )


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _too_large_detail(source: str, size: int, limit: int) -> str:
    return (
        f"{source} is {_format_size(size)}, over the per-file limit of {_format_size(limit)}; "
        "raise the limit with NEWSFLOW_MAX_FILE_BYTES or --max-file-mb if it really is one article."
    )


def _format_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB ({size} bytes)"
    return f"{size / (1024 * 1024):.1f} MB ({size} bytes)"
