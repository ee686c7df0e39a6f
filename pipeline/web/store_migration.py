"""The raw store's first layout (`web/ab/abcdef….html.gz` or `….html`, with a `….json` sidecar)
moved into WARC files once, at first use: each page becomes a response record (and a request
record) dated by its sidecar's fetch time, at the address it was fetched from, indexed with its
canonical URL, charset and warehouses; then its two files go. The old layout kept no HTTP headers:
the response says 200 and the Content-Type the sidecar names.

A page whose sidecar is missing or unreadable (its URL is unknown, so `reextract` never used it)
or whose bytes do not unpack stays where it is, untouched."""

from __future__ import annotations

import json
import threading
import zlib
from pathlib import Path

from pipeline.web.store import MAX_UNPACKED_BYTES, RawPageInfo, append_fetch, raw_pages_dir, store_lock

_migrated: set[Path] = set()
_migrated_lock = threading.Lock()


def legacy_pages(web_dir: Path) -> list[Path]:
    return sorted(path for path in Path(web_dir).glob("??/*.html*") if path.name.endswith((".html", ".html.gz")) and not path.name.startswith("."))


def migrate_once(state_dir: Path) -> int:
    """Move the first layout's pages into WARC, once per state folder and process; returns how many moved."""
    from pipeline.settings import raw_pages_warc_bytes

    web_dir = raw_pages_dir(state_dir)
    key = web_dir.resolve()
    with _migrated_lock:
        if key in _migrated:
            return 0
        _migrated.add(key)
    if not legacy_pages(web_dir):
        return 0
    moved = 0
    with store_lock(state_dir):
        pages = []
        for path in legacy_pages(web_dir):  # again, holding the lock: another process may have moved them
            info, body = _legacy_info(path), _legacy_body(path)
            if info is not None and body is not None:
                pages.append((info.fetched_at, path, info, body))
        for _, path, info, body in sorted(pages, key=lambda page: (page[0], page[1].name)):
            append_fetch(web_dir, body, info, (), raw_pages_warc_bytes())
            path.unlink(missing_ok=True)
            _sidecar(path).unlink(missing_ok=True)
            moved += 1
        for folder in web_dir.glob("??"):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return moved


def _sidecar(path: Path) -> Path:
    return path.parent / f"{path.name.split('.', 1)[0]}.json"


def _legacy_info(path: Path) -> RawPageInfo | None:
    try:
        data = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        data["warehouses"] = tuple(data.get("warehouses") or ())
        return RawPageInfo(**data)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _legacy_body(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not path.name.endswith(".gz"):
        return data
    unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = unpacker.decompress(data, MAX_UNPACKED_BYTES + 1)
    except zlib.error:
        return None
    return data if unpacker.eof and len(data) <= MAX_UNPACKED_BYTES else None
