"""Raw pages kept on disk, content-addressed, so they can be extracted again without fetching.

`<state_dir>/web/ab/abcdef….html` holds the bytes exactly as the server sent them (after
transfer decoding); `….json` next to it says where and when they came from and the charset the
server declared, which decoding needs. The same bytes fetched twice are stored once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class RawPageInfo:
    url: str  # canonical URL
    fetched_url: str  # the address the bytes came from, after redirects
    content_type: str | None
    charset: str | None
    fetched_at: str  # ISO 8601, UTC


def raw_pages_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "web"


def raw_page_path(state_dir: Path, content_sha256: str) -> Path:
    return raw_pages_dir(state_dir) / content_sha256[:2] / f"{content_sha256}.html"


def store_raw_page(state_dir: Path, body: bytes, info: RawPageInfo) -> tuple[Path, str]:
    """Keep `body` under its sha256; returns (path, sha256). Writes are atomic (temp file, rename)."""
    sha = hashlib.sha256(body).hexdigest()
    path = raw_page_path(state_dir, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _write_atomically(path, body)
    _write_atomically(path.with_suffix(".json"), json.dumps(asdict(info), ensure_ascii=False, indent=1).encode("utf-8"))
    return path, sha


def read_raw_page_info(raw_path: Path) -> RawPageInfo | None:
    try:
        return RawPageInfo(**json.loads(Path(raw_path).with_suffix(".json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def iter_raw_pages(state_dir: Path):
    """Every stored page as (path, info): what `newsflow reextract` walks."""
    for path in sorted(raw_pages_dir(state_dir).glob("??/*.html")):
        yield path, read_raw_page_info(path)


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def utc_iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
