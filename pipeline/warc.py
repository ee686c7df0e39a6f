"""WARC files as inputs: list a web archive's HTML responses by record offset, and read one record
into a Document as a fetched page would be.

Listing (`list_warc_records`) reads the file once through, record headers only (a gzipped record
is decompressed to find where the next one starts, its payload is not kept), so the flow can cut
the records into batches; each record is then read on a worker by its offset
(`load_warc_record`), its payload bounded by the per-file limit, so no batch carries the
archive's bytes and no record takes more memory than an input file may. The reading uses warcio
(the library of webrecorder's replay and indexing tools).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from pipeline.record import Document
from pipeline.sources import REJECT_EMPTY_FILE, REJECT_TOO_LARGE, REJECT_UNDECODABLE, REJECT_UNREADABLE, UndecodableError, confining_folder, is_within, display_path, sha256_bytes
from pipeline.web.discover import canonical_url
from pipeline.web.documents import decode_page
from pipeline.web.fetch import parse_content_type

WARC_SUFFIXES = (".warc", ".warc.gz")
HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})

REJECT_WARC_TRUNCATED = "warc_truncated"
REJECT_WARC_DAMAGED = "warc_damaged"

# Why a record is skipped (counted, not a row): not a page newsflow extracts.
SKIP_NOT_RESPONSE = "not a response record (request, metadata, warcinfo, revisit, ...)"
SKIP_NOT_HTML = "a response that is not an HTML page"
SKIP_NOT_OK = "a response that is not a page (HTTP status other than 200)"


def is_warc_file(path: Path | str) -> bool:
    return str(path).lower().endswith(WARC_SUFFIXES)


@dataclass(frozen=True)
class WarcRecord:
    """One HTML response of a WARC file, by where it starts; or, with `damage`, the part of the
    file from `offset` on that could not be read (one rejection for all of it)."""

    path: Path  # absolute
    offset: int
    damage: str | None = None

    def source_path(self, drop_folder: Path) -> str:
        """The record's place as stored: the file's path as any file's, then '#' and the offset."""
        return f"{display_path(self.path, drop_folder)}#{self.offset}"


def list_warc_records(path: Path, skipped: Counter | None = None) -> Iterator[WarcRecord]:
    """The HTML response records of the WARC file at `path`, in file order. Other records are
    counted in `skipped` by why. A file that cannot be opened, or whose records stop being
    readable, ends with one damaged record from where the reading failed."""
    skipped = skipped if skipped is not None else Counter()
    path = Path(os.path.abspath(path))
    damaged_from = 0
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            records = ArchiveIterator(stream, no_record_parse=False)
            for record in records:
                damaged_from = records.get_record_offset()
                why_skipped = _why_skipped(record)
                records.read_to_end(record)
                if getattr(record.raw_stream, "limit", 0) > 0:  # the file ends before the record's Content-Length
                    raise EOFError(f"the record at byte {damaged_from} is cut short: {record.raw_stream.limit} bytes of its block are missing")
                damaged_from = records.get_record_offset() + records.get_record_length()
                if why_skipped:
                    skipped[why_skipped] += 1
                else:
                    yield WarcRecord(path, records.get_record_offset())
            if damaged_from < size and not _only_record_separators(stream, damaged_from, size):
                raise EOFError(f"{size - damaged_from} bytes at its end are no complete WARC record")  # warcio stops quietly at a header cut short
    except OSError as error:
        yield WarcRecord(path, damaged_from, damage=f"cannot be read ({type(error).__name__}: {error.strerror or error})")
    except Exception as error:  # noqa: BLE001 - whatever a damaged archive makes warcio raise, the rest of the file is lost
        yield WarcRecord(path, damaged_from, damage=f"is damaged from byte {damaged_from} on ({_describe(error)})")


def _only_record_separators(stream, start: int, size: int) -> bool:
    """An uncompressed WARC's last record is followed by its CRLF CRLF, which warcio's record length leaves out."""
    if size - start > 8:
        return False
    stream.seek(start)
    return not stream.read(8).strip(b"\r\n")


def _why_skipped(record) -> str | None:
    if record.rec_type != "response" or record.http_headers is None:
        return SKIP_NOT_RESPONSE
    if media_type_and_charset(record.http_headers.get_header("Content-Type"))[0] not in HTML_MEDIA_TYPES:
        return SKIP_NOT_HTML
    if record.http_headers.get_statuscode() != "200":
        return SKIP_NOT_OK
    return None


def media_type_and_charset(content_type: str | None) -> tuple[str | None, str | None]:
    """('text/html', 'utf-8') from 'text/html; charset="UTF-8"', as the fetcher reads the header."""
    return parse_content_type(content_type)


def load_warc_record(record: WarcRecord, *, drop_folder: Path, max_bytes: int) -> Document:
    """The record's HTTP payload as a Document, decoded as a fetched page is (its Content-Type
    charset, then the page's own), addressed by its canonical target URI and dated by its
    WARC-Date (`fetched_at`); or a rejected one whose detail names the file and the offset.
    Never raises for bad input."""
    source = record.source_path(drop_folder)
    document = Document(source_path=source)
    where = f"The WARC record at byte {record.offset} of {display_path(record.path, drop_folder)}"
    if record.damage:
        return document.reject(
            REJECT_WARC_DAMAGED,
            f"{display_path(record.path, drop_folder)} {record.damage}: the records before it were read, the rest "
            "are lost; fetch the archive again (a download cut short?) or repair it (for example `warcio recompress`).",
        )
    try:
        with open(record.path, "rb") as stream:
            stream.seek(record.offset)
            warc = next(iter(ArchiveIterator(stream)))
            headers = warc.rec_headers
            uri = (headers.get_header("WARC-Target-URI") or "").strip()
            fetched_at = _warc_date(headers.get_header("WARC-Date"))
            document = document.replace(source_url=canonical_url(uri) if uri else None, fetched_at=fetched_at)
            if headers.get_header("WARC-Truncated"):
                return document.reject(
                    REJECT_WARC_TRUNCATED,
                    f"{where} ({uri}) was cut short by the crawler (WARC-Truncated: {headers.get_header('WARC-Truncated')}): "
                    "its page is incomplete; fetch the page itself (`newsflow ingest URL`) to have it whole.",
                )
            _, charset = media_type_and_charset(warc.http_headers.get_header("Content-Type") if warc.http_headers else None)
            data = _read_at_most(warc.content_stream(), max_bytes)
            if (max_bytes <= 0 or len(data) <= max_bytes) and getattr(warc.raw_stream, "limit", 0) > 0:
                raise EOFError(f"the file ends {warc.raw_stream.limit} bytes before the record does")
    except OSError as error:
        return document.reject(REJECT_UNREADABLE, f"{where} cannot be read ({type(error).__name__}: {error.strerror or error}); check the file and run again.")
    except Exception as error:  # noqa: BLE001 - whatever a damaged record makes warcio raise
        return document.reject(
            REJECT_WARC_DAMAGED, f"{where} cannot be read ({_describe(error)}); fetch the archive again or repair it."
        )
    if max_bytes > 0 and len(data) > max_bytes:
        return document.reject(
            REJECT_TOO_LARGE,
            f"{where} ({uri}) holds a page over the per-file limit of {max_bytes} bytes; raise NEWSFLOW_MAX_FILE_BYTES "
            "or --max-file-mb if it really is one article.",
        )
    document = document.replace(content_sha256=sha256_bytes(data), size_bytes=len(data))
    if not data.strip():
        return document.reject(REJECT_EMPTY_FILE, f"{where} ({uri}) is an empty page; nothing to extract.")
    try:
        text, encoding, origin = decode_page(data, charset)
    except UndecodableError as error:
        return document.reject(REJECT_UNDECODABLE, f"{where} ({uri}) could not be decoded as text ({error}).")
    return document.replace(raw_text=text, encoding=encoding, encoding_origin=origin, content_format="html")


def warc_records_of(paths: Iterable, skipped: Counter, folders: Sequence[Path] = ()) -> Iterator:
    """`paths` with each WARC file among them replaced by its HTML records (`list_warc_records`).
    A WARC file that links out of the folder it was found in (`folders`), or holds no record at all
    (an empty file), stays a path, for the file loader to reject as it rejects any such file."""
    for path in paths:
        if not (isinstance(path, Path) and is_warc_file(path) and path.is_file()):
            yield path
            continue
        folder = confining_folder(path, folders)
        if folder is not None and not is_within(os.path.realpath(path), os.path.realpath(folder)):
            yield path
            continue
        before = sum(skipped.values())
        listed = False
        for record in list_warc_records(path, skipped):
            listed = True
            yield record
        if not listed and sum(skipped.values()) == before:
            yield path


def _read_at_most(stream, limit: int) -> bytes:
    """Up to `limit` + 1 bytes (all with no limit): one byte over tells a page too large, and a
    decompressing stream is never read further than that."""
    chunks, size = [], 0
    while limit <= 0 or size <= limit:
        chunk = stream.read(65536 if limit <= 0 else min(65536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _warc_date(value: str | None) -> datetime | None:
    """WARC-Date (ISO 8601, UTC) as a naive UTC datetime, as the warehouse stores times."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _describe(error: BaseException) -> str:
    if isinstance(error, StopIteration):
        return "no WARC record there"
    message = str(error).strip() or "no details"
    return f"{type(error).__name__}: {message[:200]}"
