"""Unpacking what a server sends, never past a limit.

httpx decodes a `Content-Encoding: gzip` body one network read at a time with no bound on the
output: a 64 KiB read of a gzip bomb becomes 64 MB in one call, and `gzip, gzip` multiplies that
by another thousand. `BodyDecoder` decodes the same encodings (gzip, x-gzip, deflate, stacked in
any order) with zlib's `max_length`, so no call produces more than the limit.
"""

from __future__ import annotations

import zlib


class UnsupportedEncoding(ValueError):
    """A Content-Encoding newsflow did not ask for and cannot unpack (br, zstd, compress...)."""


class DamagedEncoding(ValueError):
    """The body claims an encoding but its bytes cannot be unpacked."""


class _Layer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.raw_deflate_tried = False
        self.produced = 0
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if name in ("gzip", "x-gzip") else zlib.MAX_WBITS)

    def unpack(self, data: bytes, limit: int) -> bytes:
        """At most `limit + 1 - produced` more bytes: one byte past the limit says it is over."""
        try:
            out = self._inflater.decompress(data, limit + 1 - self.produced)
        except zlib.error as error:
            if self.name == "deflate" and not self.raw_deflate_tried and self.produced == 0:
                # Many servers send raw deflate without the zlib header (httpx allows it too).
                self.raw_deflate_tried = True
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.unpack(data, limit)
            raise DamagedEncoding(f"its {self.name} body cannot be unpacked ({error})") from None
        self.raw_deflate_tried = True
        self.produced += len(out)
        return out


class BodyDecoder:
    """Decodes a body sent with `content_encoding`, chunk by chunk. Once the decoded bytes (or
    those of any layer) pass `limit`, `over_limit` turns True and nothing more is produced."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        names = [name.strip().lower() for name in (content_encoding or "").split(",")]
        names = [name for name in names if name and name != "identity"]
        for name in names:
            if name not in ("gzip", "x-gzip", "deflate"):
                raise UnsupportedEncoding(f"Content-Encoding: {name}")
        self.limit = limit
        self.over_limit = False
        self._layers = [_Layer(name) for name in reversed(names)]  # the last encoding applied is undone first
        self.encodings = ", ".join(names)

    def feed(self, chunk: bytes) -> bytes:
        if self.over_limit:
            return b""
        data = chunk
        for layer in self._layers:
            data = layer.unpack(data, self.limit)
            if layer.produced > self.limit:
                self.over_limit = True
                # The decoded bytes up to the limit, for a caller that keeps the start (robots.txt).
                return data[: len(data) - (layer.produced - self.limit)] if layer is self._layers[-1] else b""
        return data


def gunzip_within(data: bytes, limit: int) -> bytes:
    """`data` gunzipped, or DamagedEncoding; at most `limit + 1` bytes are ever unpacked, so a
    result longer than `limit` means the whole is larger."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, limit + 1)
    except zlib.error as error:
        raise DamagedEncoding(f"it looks gzipped but cannot be unpacked ({error})") from None
