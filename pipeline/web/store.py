"""Raw pages kept on disk as WARC 1.1, so they can be extracted again without fetching, and opened
by any web-archive tool.

`<state_dir>/web/newsflow-YYYYMMDDHHMMSS-NNNNN.warc.gz` holds, per fetch, a request and a response
record for every hop (redirects first), each record its own gzip member (warcio's WARCWriter): the
response's status line and headers as received, its body as newsflow read it (transfer and
content encoding undone, so Content-Encoding, Transfer-Encoding and Content-Length are rewritten
to describe that body; the server's own go to X-Archive-Orig-* headers, as pywb does), WARC-Date
the time of the fetch. A file is closed past NEWSFLOW_RAW_PAGES_WARC_MB and the next fetch starts
the next one.

Beside each WARC file, `newsflow-….cdxj` is its index: one CDXJ line per page (SURT key, 14-digit
time, JSON with url, digest, offset and length of the response record, filename) with what
newsflow adds: the page's sha256 (`content_sha256` in article_sources), its canonical URL, the
declared charset, the fetch time to the microsecond, the span of all the fetch's records, and the
warehouses whose runs fetched it. Pages are found through the index: by offset and length, or by
sha256 when the file was compacted since.

Writers (threads and processes) take `web/.lock` in turn; a record cut off by a crash is cut away
before the next append (the index names the end of the last complete fetch). Letting go of pages
(docs/web-raw-pages.md) rewrites a file without them into the next file name, then removes the old
one: whole fetches go, the rest stays byte for byte. The layout of the first versions (`web/ab/….html.gz`
and `….json` sidecars) is migrated once, at first use.
"""

from __future__ import annotations

import base64
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import tempfile
import threading
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlsplit

import duckdb

if TYPE_CHECKING:
    from pipeline.web.fetch import HttpExchange

WARC_PREFIX = "newsflow-"
WARC_SUFFIX = ".warc.gz"
INDEX_SUFFIX = ".cdxj"
LOCK_NAME = ".lock"
# Level 1 packs the development pages (workbench/data/devdata) 3.1x at 53 MB/s, level 6 3.5x at 23 MB/s:
# the fetching threads pack the pages, so the cheap level keeps up with a fast site.
GZIP_LEVEL = 1
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # a damaged record is not unpacked past this
_WARC_NAME = re.compile(r"^newsflow-(\d{14})-(\d{5,})\.warc\.gz$")
# Headers that describe how the body travelled, not the body newsflow keeps: rewritten, the
# server's values kept under the prefix replay tools use.
_TRANSFER_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
ORIGINAL_HEADER_PREFIX = "X-Archive-Orig-"
_thread_lock = threading.Lock()  # flock is per open file: threads of one process also wait on it, this only spares them the syscall storm


@dataclass(frozen=True)
class RawPageInfo:
    url: str  # canonical URL
    fetched_url: str  # the address the bytes came from, after redirects
    content_type: str | None
    charset: str | None
    fetched_at: str  # ISO 8601, UTC
    # The warehouses (resolved paths) whose runs fetched these bytes: pruning by one warehouse
    # never removes what another still uses. Empty for pages stored before this was recorded.
    warehouses: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredRawPage:
    path: Path  # the WARC file holding it
    sha256: str
    disk_bytes: int  # its records and its index line, as they lie on disk
    info: RawPageInfo | None
    offset: int = 0  # of the response record in `path`
    length: int = 0
    span_offset: int = 0  # of all the fetch's records (redirect hops, request, response)
    span_length: int = 0

    def used_by(self, warehouse: str) -> bool:
        """Whether pruning by `warehouse` decides about this page (pages that name no warehouse are everyone's)."""
        return self.info is None or not self.info.warehouses or warehouse in self.info.warehouses


def raw_pages_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "web"


def index_path(warc_path: Path) -> Path:
    return Path(warc_path).with_name(Path(warc_path).name[: -len(WARC_SUFFIX)] + INDEX_SUFFIX)


def warc_path_of(index: Path) -> Path:
    return Path(index).with_name(Path(index).name[: -len(INDEX_SUFFIX)] + WARC_SUFFIX)


def store_raw_page(
    state_dir: Path, body: bytes, info: RawPageInfo, *, exchanges: tuple[HttpExchange, ...] = (), max_file_bytes: int | None = None
) -> tuple[StoredRawPage, str]:
    """Append one fetch to the current WARC file (the next one past `max_file_bytes`, by default
    NEWSFLOW_RAW_PAGES_WARC_MB) and index it; returns (where it lies, sha256 of `body`).
    `exchanges`: the hops as they went over the wire, the last one the page's; without them (pages
    of the first layout) the response says only 200 and the Content-Type."""
    from pipeline.settings import raw_pages_warc_bytes
    migrate_once(state_dir)
    limit = raw_pages_warc_bytes() if max_file_bytes is None else max_file_bytes
    records = _fetch_records(body, info, exchanges)  # packed before waiting for the lock: other threads append meanwhile
    with store_lock(state_dir):
        return append_fetch(raw_pages_dir(state_dir), body, info, exchanges, limit, records=records)


def append_fetch(
    web_dir: Path, body: bytes, info: RawPageInfo, exchanges: tuple[HttpExchange, ...], max_file_bytes: int,
    *, records: tuple[bytes, int, int] | None = None,
) -> tuple[StoredRawPage, str]:
    """store_raw_page's work, with the store's lock held (`records`: the fetch's, packed already)."""
    sha = hashlib.sha256(body).hexdigest()
    data, response_at, response_length = records or _fetch_records(body, info, exchanges)
    warc, end = _current_warc(web_dir, max_file_bytes - len(data))
    with open(warc, "r+b") as out:
        out.truncate(end)  # a record a crash cut off goes: the index says where the last whole fetch ends
        out.seek(end)
        out.write(data)
    page = StoredRawPage(
        path=warc, sha256=sha, disk_bytes=0, info=info, offset=end + response_at, length=response_length,
        span_offset=end, span_length=len(data),
    )
    line = index_line(page, mime=info.content_type, status=exchanges[-1].status if exchanges else 200, digest=_sha1_digest(body))
    _cut_index_to_whole_lines(index_path(warc))
    with open(index_path(warc), "ab") as index:
        index.write(line.encode("utf-8"))
    return replace(page, disk_bytes=len(data) + len(line)), sha


def read_raw_page(warc_path: Path, offset: int = 0, length: int = 0, sha256: str | None = None) -> bytes:
    """The page's bytes as newsflow read them from the server: the response record at `offset`
    (`length` bytes) of `warc_path`, or, when the file was compacted or rewritten since, the record
    the store's index names for `sha256`. Raises OSError when it cannot be read back."""
    try:
        data = _read_response_body(Path(warc_path), offset, length)
        if sha256 is None or hashlib.sha256(data).hexdigest() == sha256:
            return data
        moved = OSError(f"the record at offset {offset} of {Path(warc_path).name} is another page's")
    except OSError as error:
        moved = error
    if sha256 is not None:
        state_dir = Path(warc_path).parent.parent
        for page in _indexed_pages(raw_pages_dir(state_dir)):
            if page.sha256 == sha256 and (page.path, page.offset) != (Path(warc_path), offset):
                return read_raw_page(page.path, page.offset, page.length)
    raise moved


def stored_raw_pages(state_dir: Path) -> list[StoredRawPage]:
    """Every page in the store, oldest file first and in the order fetched, with its size on disk:
    what `newsflow reextract`, the tidying and `newsflow status` walk."""
    migrate_once(state_dir)
    return _indexed_pages(raw_pages_dir(state_dir))


def warc_files(web_dir: Path) -> list[Path]:
    """The store's WARC files, in the order they were started."""
    files = [path for path in Path(web_dir).glob(f"{WARC_PREFIX}*{WARC_SUFFIX}") if _WARC_NAME.match(path.name)]
    return sorted(files, key=lambda path: int(_WARC_NAME.match(path.name)[2]))


@dataclass(frozen=True)
class RawStoreUsage:
    pages: int
    disk_bytes: int


def raw_store_usage(state_dir: Path) -> RawStoreUsage:
    """Pages indexed, and the bytes of the store's WARC files and indexes on disk."""
    pages = stored_raw_pages(state_dir)
    web = raw_pages_dir(state_dir)
    size = sum(_size(path) + _size(index_path(path)) for path in warc_files(web))
    return RawStoreUsage(pages=len(pages), disk_bytes=size)


@contextmanager
def store_lock(state_dir: Path) -> Iterator[None]:
    """The raw store's one writer at a time, across threads and processes (fcntl.flock on web/.lock;
    the kernel lets go of it when a process dies)."""
    web = raw_pages_dir(state_dir)
    web.mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(web / LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- WARC records and the index ---


def _current_warc(web_dir: Path, room: int) -> tuple[Path, int]:
    """(the file to append to, where its last whole fetch ends): the newest file when it ends within
    `room` bytes (the size a file may reach, less what is to be appended) or holds no fetch yet;
    else a new file, begun with a warcinfo record. So a file exceeds NEWSFLOW_RAW_PAGES_WARC_MB
    only when one fetch alone does."""
    files = warc_files(web_dir)
    if files:
        newest = files[-1]
        end, fetches = _indexed_end(newest)
        if end <= room or not fetches:
            return newest, end
    serial = int(_WARC_NAME.match(files[-1].name)[2]) + 1 if files else 1
    path = web_dir / f"{WARC_PREFIX}{datetime.now(timezone.utc):%Y%m%d%H%M%S}-{serial:05d}{WARC_SUFFIX}"
    info = _warcinfo(path.name)
    path.write_bytes(info)
    index_path(path).write_bytes(b"")
    return path, len(info)


def _indexed_end(warc: Path) -> tuple[int, int]:
    """(where the last fetch its index lists ends, or the warcinfo record when it lists none; whether it lists one).
    Index lines are in the order of the records, so the last whole line names the end."""
    last = _last_index_entry(index_path(warc))
    if last is not None:
        return last.span_offset + last.span_length, 1
    with open(warc, "rb") as stream:  # no fetch yet: the end of the warcinfo record, the first gzip member
        head = stream.read(1024 * 1024)
    unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        unpacker.decompress(head)
    except zlib.error:
        return 0, 0
    return (len(head) - len(unpacker.unused_data) if unpacker.eof else 0), 0


def _warcinfo(filename: str) -> bytes:
    from warcio.warcwriter import WARCWriter

    from pipeline.web.fetch import NEWSFLOW_VERSION

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    writer.write_record(
        writer.create_warcinfo_record(filename, {"software": f"newsflow/{NEWSFLOW_VERSION} (warcio)", "format": "WARC File Format 1.1",
                                                 "description": "Pages newsflow fetched, kept for `newsflow reextract`"})
    )
    return out.getvalue()


def _fetch_records(body: bytes, info: RawPageInfo, exchanges: tuple[HttpExchange, ...]) -> tuple[bytes, int, int]:
    """The fetch's records, gzipped one by one: (bytes, where the page's response record starts in
    them, its length)."""
    from warcio.statusandheaders import StatusAndHeaders

    out = io.BytesIO()
    writer = _MemberWriter(out)
    date = warc_date(info.fetched_at)
    hops = list(exchanges) or [_assumed_exchange(info)]
    response_at = response_length = 0
    for number, hop in enumerate(hops):
        last = number == len(hops) - 1
        payload = body if last else b""
        protocol = hop.http_version if hop.http_version.upper().startswith("HTTP/") else "HTTP/1.1"
        http_headers = StatusAndHeaders(f"{hop.status} {hop.reason}".strip(), _kept_headers(hop.headers, len(payload)), protocol=protocol)
        extra = {"WARC-Date": date}
        if last and info.url != hop.url:
            extra["WARC-Newsflow-Canonical-URI"] = info.url  # the page's own rel=canonical: its address in the warehouse
        response = writer.create_warc_record(hop.url, "response", payload=io.BytesIO(payload), length=None,
                                             warc_headers_dict=extra, http_headers=http_headers)
        path = urlsplit(hop.url)
        target = (path.path or "/") + (f"?{path.query}" if path.query else "")
        request_headers = StatusAndHeaders(f"GET {target} {protocol}", list(hop.request_headers), protocol=protocol, is_http_request=True)
        request = writer.create_warc_record(hop.url, "request", payload=io.BytesIO(b""), length=None,
                                            warc_headers_dict={"WARC-Date": date}, http_headers=request_headers)
        request.rec_headers.add_header("WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID"))
        if last:
            response_at = out.tell()
        writer.write_record(response)
        if last:
            response_length = out.tell() - response_at
        writer.write_record(request)
    return out.getvalue(), response_at, response_length


class _MemberWriter:
    """warcio's WARCWriter, each record gzipped as its own member at GZIP_LEVEL (warcio packs at
    level 9, several times slower, on the fetching threads)."""

    def __init__(self, out) -> None:
        from warcio.warcwriter import WARCWriter

        self.out = out
        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=False, warc_version="1.1")

    def create_warc_record(self, *args, **kwargs):
        return self.writer.create_warc_record(*args, **kwargs)

    def write_record(self, record) -> None:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.write_record(record)
        self.out.write(gzip.compress(self.buffer.getvalue(), compresslevel=GZIP_LEVEL, mtime=0))


def _assumed_exchange(info: RawPageInfo) -> HttpExchange:
    from pipeline.web.fetch import HttpExchange

    content_type = info.content_type or "text/html"
    if info.charset:
        content_type += f"; charset={info.charset}"
    return HttpExchange(url=info.fetched_url or info.url, status=200, reason="OK", http_version="HTTP/1.1",
                        headers=(("Content-Type", content_type),), request_headers=())


def _kept_headers(headers: tuple[tuple[str, str], ...], body_length: int) -> list[tuple[str, str]]:
    kept = []
    for name, value in headers:
        if name.lower() in _TRANSFER_HEADERS:
            kept.append((ORIGINAL_HEADER_PREFIX + name, value))
        else:
            kept.append((name, value))
    kept.append(("Content-Length", str(body_length)))
    return kept


def warc_date(fetched_at: str) -> str:
    """An ISO 8601 time (UTC when it names no zone) as WARC 1.1's WARC-Date, to the microsecond."""
    moment = datetime.fromisoformat(fetched_at)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment.microsecond else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha1_digest(body: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def surt_key(url: str) -> str:
    """The URL's SURT form as CDXJ indexes sort by (host labels reversed, `www.` dropped, lower case):
    `http://www.Example.com:8080/a?b` -> `com,example:8080)/a?b`. The `surt` package does this too,
    but only comes with the dev dependency cdxj-indexer; tests check the two agree."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().strip(".")
    if host.startswith("www."):
        host = host[4:]
    labels = host.split(".")
    reversed_host = ",".join(reversed(labels))
    default_port = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    path = (parts.path or "/").lower()
    query = "&".join(sorted(parts.query.lower().split("&"))) if parts.query else ""
    return f"{reversed_host}{port}){path}" + (f"?{query}" if query else "")


def index_line(page: StoredRawPage, *, mime: str | None, status: int, digest: str) -> str:
    info = page.info
    assert info is not None
    date = warc_date(info.fetched_at)
    fields = {
        "url": info.fetched_url or info.url,
        "mime": mime or "unk",
        "status": str(status),
        "digest": digest,
        "length": str(page.length),
        "offset": str(page.offset),
        "filename": page.path.name,
        "sha256": page.sha256,
        "canonical_url": info.url,
        "content_type": info.content_type,
        "charset": info.charset,
        "fetched_at": info.fetched_at,
        "span_offset": str(page.span_offset),
        "span_length": str(page.span_length),
        "warehouses": list(info.warehouses),
    }
    timestamp = re.sub(r"\D", "", date)[:14]
    return f"{surt_key(fields['url'])} {timestamp} {json.dumps(fields, ensure_ascii=False)}\n"


def _last_index_entry(index: Path) -> StoredRawPage | None:
    """The index's last whole line that parses, read from the file's tail (an append must not read
    a whole index); the whole index when its tail holds none."""
    try:
        with open(index, "rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(max(0, size - 256 * 1024))
            tail = stream.read()
    except OSError:
        return None
    lines = tail[: tail.rfind(b"\n") + 1].decode("utf-8", errors="replace").splitlines(keepends=True)
    for line in reversed(lines[1:] if size > len(tail) else lines):  # the first may be a line's end only
        pages = _parse_index_lines(index, [line])
        if pages:
            return pages[0][0]
    pages = _index_entries(index) if size > len(tail) else []
    return max(pages, key=lambda page: page.span_offset) if pages else None


def _cut_index_to_whole_lines(index: Path) -> None:
    """An index line a crash cut off goes, so that the next line starts a line of its own."""
    with open(index, "r+b") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size == 0:
            return
        stream.seek(max(0, size - 256 * 1024))
        tail = stream.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        stream.truncate(size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= len(tail) else size))


def _index_entries(index: Path) -> list[StoredRawPage]:
    return [page for page, _ in _index_lines(index)]


def _index_lines(index: Path) -> list[tuple[StoredRawPage, tuple[str, str, dict]]]:
    """The pages an index lists, each with its line's key, time and fields; a line cut off by a
    crash, or not newsflow's, is passed over."""
    try:
        text = index.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return _parse_index_lines(index, text.splitlines(keepends=True))


def _parse_index_lines(index: Path, lines: list[str]) -> list[tuple[StoredRawPage, tuple[str, str, dict]]]:
    warc = warc_path_of(index)
    pages = []
    for line in lines:
        if not line.endswith("\n"):
            continue
        try:
            key, timestamp, rest = line.split(" ", 2)
            fields = json.loads(rest)
            info = RawPageInfo(
                url=fields["canonical_url"], fetched_url=fields["url"], content_type=fields.get("content_type"),
                charset=fields.get("charset"), fetched_at=fields["fetched_at"], warehouses=tuple(fields.get("warehouses") or ()),
            )
            page = StoredRawPage(
                path=warc, sha256=fields["sha256"], disk_bytes=int(fields["span_length"]) + len(line.encode("utf-8")), info=info,
                offset=int(fields["offset"]), length=int(fields["length"]),
                span_offset=int(fields["span_offset"]), span_length=int(fields["span_length"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        pages.append((page, (key, timestamp, fields)))
    return pages


def _indexed_pages(web_dir: Path) -> list[StoredRawPage]:
    seen: set[tuple[str, str, str]] = set()
    pages = []
    for warc in warc_files(web_dir):
        for page in _index_entries(index_path(warc)):
            key = (page.sha256, page.info.url, page.info.fetched_at)
            if key in seen:  # a compaction a crash cut short left the fetch in two files
                continue
            seen.add(key)
            pages.append(page)
    return pages


def _read_response_body(warc: Path, offset: int, length: int) -> bytes:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    if length <= 0:
        raise OSError(f"no record of {warc.name} is named")
    with open(warc, "rb") as stream:
        stream.seek(offset)
        data = stream.read(length)
    if len(data) < length:
        raise OSError(f"{warc.name} ends before the record at offset {offset}")
    try:
        for record in ArchiveIterator(io.BytesIO(data)):
            if record.rec_type != "response":
                break
            body = record.raw_stream.read(MAX_UNPACKED_BYTES + 1)
            if len(body) > MAX_UNPACKED_BYTES:
                break
            return body
    except (ArchiveLoadFailed, OSError, EOFError, ValueError) as error:
        raise OSError(f"the record at offset {offset} of {warc.name} is damaged ({error})") from None
    raise OSError(f"the record at offset {offset} of {warc.name} is not a page newsflow stored")


# --- the first layout ---
# Stores of earlier versions (`web/ab/abcdef….html.gz` or `….html`, with a `….json` sidecar) are
# moved into WARC once, at first use: each page becomes a response record (and a request record)
# dated by its sidecar's fetch time, at the address it was fetched from, indexed with its canonical
# URL, charset and warehouses; then its two files go. The old layout kept no HTTP headers: the
# response says 200 and the Content-Type the sidecar names. A page whose sidecar is missing or
# unreadable (its URL is unknown, so `reextract` never used it), or whose bytes do not unpack,
# stays where it is, untouched.

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
            info = _legacy_info(path)
            if info is not None:
                pages.append((info.fetched_at, path, info))
        for _, path, info in sorted(pages, key=lambda page: (page[0], page[1].name)):  # oldest first, one page in memory at a time
            body = _legacy_body(path)
            if body is None:
                continue
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


# --- lifecycle ---


def needed_raw_pages(connection: duckdb.DuckDBPyConnection, *, present_only: bool = False) -> set[str]:
    """The sha256 of the latest fetch of every web page a stored article was made from (or, with
    `present_only`, of those `prune` keeps): what `newsflow reextract` needs."""
    present = "AND present" if present_only else ""
    rows = connection.execute(
        f"""
        SELECT DISTINCT content_sha256 FROM article_sources
        WHERE content_sha256 IS NOT NULL AND (starts_with(source_path, 'http://') OR starts_with(source_path, 'https://')) {present}
        """
    ).fetchall()
    return {sha for (sha,) in rows}


@dataclass
class RawStoreCleanup:
    """What tidying the store removes (or would remove), and what it keeps."""

    max_bytes: int
    superseded: list[StoredRawPage] = field(default_factory=list)  # an older fetch of a URL whose newer fetch is kept
    unused: list[StoredRawPage] = field(default_factory=list)  # no stored article uses them
    evicted: list[StoredRawPage] = field(default_factory=list)  # over the bound, oldest fetch first
    released: list[StoredRawPage] = field(default_factory=list)  # still used by another warehouse: only this one's claim goes
    kept_pages: int = 0
    kept_bytes: int = 0

    @property
    def removed(self) -> list[StoredRawPage]:
        return self.superseded + self.unused + self.evicted

    @property
    def freed_bytes(self) -> int:
        return sum(page.disk_bytes for page in self.removed)

    def describe(self, *, dry_run: bool = False) -> str:
        """One line: what went (or would go), why, and what is left."""
        verb = "would remove" if dry_run else "removed"
        reasons = [
            f"{len(pages)} {why}"
            for pages, why in (
                (self.superseded, "superseded by a newer fetch"),
                (self.unused, "used by no stored article"),
                (self.evicted, f"oldest over the {format_mb(self.max_bytes)} bound (NEWSFLOW_RAW_PAGES_MAX_MB)"),
            )
            if pages
        ]
        what = f"{len(self.removed)} ({format_mb(self.freed_bytes)}: {', '.join(reasons)})" if reasons else "none"
        left = f"{self.kept_pages} page{'s' if self.kept_pages != 1 else ''}, {format_mb(self.kept_bytes)}"
        line = f"raw web pages: {verb} {what}; {'would keep' if dry_run else 'kept'} {left}"
        if self.evicted:
            line += "; `newsflow reextract` no longer sees the evicted ones (their articles stay; `newsflow ingest --refresh URL` fetches one again)"
        return line


def plan_raw_store_cleanup(state_dir: Path, *, warehouse: str, needed: set[str], max_bytes: int) -> RawStoreCleanup:
    """Which pages to remove. Among the pages `warehouse` fetched (and those that name no
    warehouse), every page whose sha256 is not in `needed` goes: superseded when a newer fetch of
    its URL stays, unused otherwise (it yielded no article, or the article was pruned). A page
    another warehouse also fetched loses only this warehouse's claim. Then, while the store is over
    `max_bytes`, the oldest fetches go, whichever warehouse fetched them."""
    plan = RawStoreCleanup(max_bytes=max_bytes)
    kept: list[StoredRawPage] = []
    dropped: list[StoredRawPage] = []
    for page in stored_raw_pages(state_dir):
        if page.sha256 in needed or not page.used_by(warehouse):
            kept.append(page)
        elif page.info is not None and len(page.info.warehouses) > 1:
            plan.released.append(page)
            kept.append(page)
        else:
            dropped.append(page)
    kept_urls = {page.info.url for page in kept if page.info is not None}
    for page in dropped:
        (plan.superseded if page.info is not None and page.info.url in kept_urls else plan.unused).append(page)
    total = sum(page.disk_bytes for page in kept)
    for page in sorted(kept, key=lambda p: (p.info.fetched_at if p.info else "", p.sha256)):
        if total <= max_bytes:
            break
        plan.evicted.append(page)
        total -= page.disk_bytes
    evicted = {id(page) for page in plan.evicted}
    plan.released = [page for page in plan.released if id(page) not in evicted]
    plan.kept_pages = len(kept) - len(plan.evicted)
    plan.kept_bytes = total
    return plan


def tidy_raw_store(
    connection: duckdb.DuckDBPyConnection, state_dir: Path, *, warehouse: str, max_bytes: int, dry_run: bool = False, pruning: bool = False
) -> RawStoreCleanup:
    """Remove the raw pages the warehouse on `connection` (at path `warehouse`) no longer needs,
    then the oldest over `max_bytes` (`dry_run`: only say so). `pruning`: keep only what
    `newsflow prune` leaves (the pages of present places), so that a dry run says what prune frees."""
    plan = plan_raw_store_cleanup(
        state_dir, warehouse=warehouse, needed=needed_raw_pages(connection, present_only=pruning), max_bytes=max_bytes
    )
    if not dry_run:
        apply_raw_store_cleanup(plan, warehouse=warehouse)
    return plan


def warehouse_key(warehouse_path: Path) -> str:
    """How the index names a warehouse: its resolved path."""
    return str(Path(warehouse_path).resolve())


def apply_raw_store_cleanup(plan: RawStoreCleanup, *, warehouse: str) -> None:
    """Rewrite each WARC file that loses a page (or a warehouse's claim on one): its other fetches,
    byte for byte, into a new file, indexed anew; then the old file goes. A file left with no page
    simply goes. Fetches appended meanwhile are kept: the plan names what goes, not what stays."""
    gone = {(page.path, page.span_offset) for page in plan.removed}
    released = {(page.path, page.span_offset) for page in plan.released}
    files = sorted({path for path, _ in gone | released}, key=lambda path: path.name)
    if not files:
        return
    state_dir = files[0].parent.parent
    with store_lock(state_dir):
        for warc in files:
            _rewrite_without(warc, gone, released, warehouse)


def _rewrite_without(warc: Path, gone: set, released: set, warehouse: str) -> None:
    lines = _index_lines(index_path(warc))
    staying = [(page, fields) for page, fields in lines if (warc, page.span_offset) not in gone]
    if not staying:
        index_path(warc).unlink(missing_ok=True)
        warc.unlink(missing_ok=True)
        return
    web_dir = warc.parent
    serial = int(_WARC_NAME.match(warc_files(web_dir)[-1].name)[2]) + 1
    target = web_dir / f"{WARC_PREFIX}{datetime.now(timezone.utc):%Y%m%d%H%M%S}-{serial:05d}{WARC_SUFFIX}"
    head = _warcinfo(target.name)
    index = []
    with open(warc, "rb") as source, _atomic_file(target) as out:
        out.write(head)
        position = len(head)
        for page, (key, timestamp, fields) in staying:
            source.seek(page.span_offset)
            data = source.read(page.span_length)
            if len(data) < page.span_length:
                continue  # cut off: nothing to keep
            warehouses = list(page.info.warehouses) if page.info else []
            if (warc, page.span_offset) in released:
                warehouses = [w for w in warehouses if w != warehouse]
            fields = {**fields, "offset": str(position + page.offset - page.span_offset), "filename": target.name,
                      "span_offset": str(position), "warehouses": warehouses}
            out.write(data)
            position += len(data)
            index.append(f"{key} {timestamp} {json.dumps(fields, ensure_ascii=False)}\n")
    with _atomic_file(index_path(target)) as out:
        out.write("".join(index).encode("utf-8"))  # in the order of the records, as appends leave it
    index_path(warc).unlink(missing_ok=True)
    warc.unlink(missing_ok=True)


@contextmanager
def _atomic_file(path: Path):
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def format_mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def utc_iso(moment: datetime) -> str:
    """Microseconds, so that two fetches of a URL within a second still have an order."""
    return moment.isoformat(timespec="microseconds")


