"""Build small WARC files from saved pages, as a crawler writes them (warcio's WARCWriter), for the
tests and the WARC benchmark: a warcinfo record, then per page a request and its response."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


@dataclass(frozen=True)
class ArchivedPage:
    uri: str
    body: bytes
    date: str = "2026-11-02T08:15:00Z"  # WARC-Date: when it was fetched
    content_type: str = "text/html; charset=utf-8"
    status: str = "200 OK"
    extra_headers: tuple[tuple[str, str], ...] = ()  # WARC headers (WARC-Truncated, ...)


def write_warc(path: Path, pages: list[ArchivedPage], *, gzip: bool = True, with_requests: bool = True) -> list[int]:
    """Write `pages` into a new WARC at `path`; the offsets at which each page's response starts."""
    offsets = []
    with open(path, "wb") as output:
        writer = WARCWriter(output, gzip=gzip)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "newsflow tests", "format": "WARC File Format 1.1"}))
        for page in pages:
            if with_requests:
                request_headers = StatusAndHeaders(f"GET {page.uri} HTTP/1.1", [("Host", "news.example")], is_http_request=True)
                writer.write_record(
                    writer.create_warc_record(page.uri, "request", http_headers=request_headers, warc_headers_dict={"WARC-Date": page.date})
                )
            http_headers = StatusAndHeaders(page.status, [("Content-Type", page.content_type), ("Content-Length", str(len(page.body)))], protocol="HTTP/1.1")
            warc_headers = {"WARC-Date": page.date, **dict(page.extra_headers)}
            offsets.append(output.tell())
            writer.write_record(
                writer.create_warc_record(page.uri, "response", payload=BytesIO(page.body), http_headers=http_headers, warc_headers_dict=warc_headers)
            )
    return offsets


def write_revisit(path: Path, uri: str, date: str = "2026-11-03T08:15:00Z") -> None:
    """Append a revisit record (the same payload as an earlier capture) to the WARC at `path`."""
    with open(path, "ab") as output:
        writer = WARCWriter(output, gzip=str(path).endswith(".gz"))
        record = writer.create_revisit_record(uri, digest="sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", refers_to_uri=uri, refers_to_date=date)
        writer.write_record(record)
