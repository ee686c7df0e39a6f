"""Raw pages kept on disk, content-addressed, so they can be extracted again without fetching.

`<state_dir>/web/ab/abcdef….html.gz` holds the bytes exactly as the server sent them (after
transfer and content decoding), gzipped; `….json` next to it says where and when they came from,
the charset the server declared (which decoding needs) and the warehouses that fetched them. The
same bytes fetched twice are stored once. Files of the first version (`….html`, not packed) are
read as well.

The store has a lifecycle (docs/web-raw-pages.md): after each run that fetched or re-extracted
pages, and at `newsflow prune`, the pages no stored article uses are removed (superseded fetches,
pages that yielded no article, pages of pruned articles), and then the oldest fetches go until
the store is within NEWSFLOW_RAW_PAGES_MAX_MB.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import zlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

import duckdb

# Level 1 packs the development pages (workbench/data/devdata) 3.1x at 53 MB/s, level 6 3.5x at 23 MB/s:
# the fetching threads pack the pages, so the cheap level keeps up with a fast site.
GZIP_LEVEL = 1
PACKED_SUFFIX = ".html.gz"
PLAIN_SUFFIX = ".html"  # pages stored before they were packed
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # a damaged or foreign .gz in the store is not unpacked past this


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
    path: Path  # the page itself (….html.gz, or ….html)
    sha256: str
    disk_bytes: int  # the page and its sidecar, as they lie on disk
    info: RawPageInfo | None  # None: the sidecar is missing or unreadable

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.path)

    def used_by(self, warehouse: str) -> bool:
        """Whether pruning by `warehouse` decides about this page (pages that name no warehouse are everyone's)."""
        return self.info is None or not self.info.warehouses or warehouse in self.info.warehouses


def raw_pages_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "web"


def raw_page_path(state_dir: Path, content_sha256: str) -> Path:
    return raw_pages_dir(state_dir) / content_sha256[:2] / f"{content_sha256}{PACKED_SUFFIX}"


def sidecar_path(raw_path: Path) -> Path:
    return Path(raw_path).parent / f"{page_sha256(raw_path)}.json"


def page_sha256(raw_path: Path) -> str:
    """The sha256 of the page's bytes, which names its file."""
    return Path(raw_path).name.split(".", 1)[0]


def store_raw_page(state_dir: Path, body: bytes, info: RawPageInfo) -> tuple[Path, str]:
    """Keep `body` under its sha256; returns (path, sha256). Writes are atomic (temp file, rename).
    A page already stored gets its sidecar updated, and keeps the warehouses that fetched it before."""
    sha = hashlib.sha256(body).hexdigest()
    path = raw_page_path(state_dir, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _write_atomically(path, gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0))
    earlier = read_raw_page_info(path)
    if earlier is not None and earlier.warehouses:
        info = replace(info, warehouses=tuple(dict.fromkeys(earlier.warehouses + info.warehouses)))
    _write_sidecar(path, info)
    legacy = path.with_name(f"{sha}{PLAIN_SUFFIX}")
    legacy.unlink(missing_ok=True)  # the same bytes, stored unpacked by an earlier version
    return path, sha


def read_raw_page(raw_path: Path) -> bytes:
    """The page's bytes as the server sent them. Raises OSError when it cannot be read back."""
    raw_path = Path(raw_path)
    data = raw_path.read_bytes()
    if raw_path.name.endswith(PACKED_SUFFIX):
        unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            data = unpacker.decompress(data, MAX_UNPACKED_BYTES + 1)
        except zlib.error as error:
            raise OSError(f"{raw_path.name} is damaged ({error})") from None
        if len(data) > MAX_UNPACKED_BYTES or not unpacker.eof:
            raise OSError(f"{raw_path.name} is damaged or not a page newsflow stored (it does not unpack within 1 GB)")
    return data


def read_raw_page_info(raw_path: Path) -> RawPageInfo | None:
    try:
        data = json.loads(sidecar_path(raw_path).read_text(encoding="utf-8"))
        data["warehouses"] = tuple(data.get("warehouses") or ())
        return RawPageInfo(**data)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def stored_raw_pages(state_dir: Path) -> list[StoredRawPage]:
    """Every page in the store, in name order, with its size on disk and its sidecar: what
    `newsflow reextract`, the tidying and `newsflow status` walk."""
    pages = []
    for path in sorted(raw_pages_dir(state_dir).glob("??/*.html*")):
        if not path.name.endswith((PACKED_SUFFIX, PLAIN_SUFFIX)) or path.name.startswith("."):
            continue
        info = read_raw_page_info(path)
        pages.append(StoredRawPage(path=path, sha256=page_sha256(path), disk_bytes=_size(path) + _size(sidecar_path(path)), info=info))
    return pages


@dataclass(frozen=True)
class RawStoreUsage:
    pages: int
    disk_bytes: int


def raw_store_usage(state_dir: Path) -> RawStoreUsage:
    pages = stored_raw_pages(state_dir)
    return RawStoreUsage(pages=len(pages), disk_bytes=sum(page.disk_bytes for page in pages))


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
    """How the sidecars name a warehouse: its resolved path."""
    return str(Path(warehouse_path).resolve())


def apply_raw_store_cleanup(plan: RawStoreCleanup, *, warehouse: str) -> None:
    for page in plan.removed:
        page.path.unlink(missing_ok=True)
        page.sidecar.unlink(missing_ok=True)
    for page in plan.released:
        assert page.info is not None
        _write_sidecar(page.path, replace(page.info, warehouses=tuple(w for w in page.info.warehouses if w != warehouse)))


def format_mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _write_sidecar(raw_path: Path, info: RawPageInfo) -> None:
    data = asdict(info)
    data["warehouses"] = list(info.warehouses)
    _write_atomically(sidecar_path(raw_path), json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))


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
    """Microseconds, so that two fetches of a URL within a second still have an order."""
    return moment.isoformat(timespec="microseconds")
