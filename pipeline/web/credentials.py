"""Credentials written into a URL (`https://user:secret@host/feed.xml`), kept apart from it.

newsflow strips them from every URL before it stores, prints, logs or requests it. The user's own
credentials (those given to `newsflow sources add` or `newsflow ingest`) are kept by origin
(scheme, host, port), exactly as written (percent-decoded, never case-changed), and sent as HTTP
Basic authentication only to that origin: not after a redirect to another origin, not to a feed's
entries on another host. Credentials found in a feed entry or a redirect's Location are dropped.

Those of followed sources live in `<state folder>/web-credentials.json`, readable by the user
only (0600), since each scheduled run needs them; those given to `newsflow ingest` stay in the
process for that run and are never written anywhere.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

CREDENTIALS_FILE = "web-credentials.json"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never the secret, in a traceback or a log line
        return f"Credentials(username={self.username!r}, password='***')"


def without_userinfo(url: str) -> str:
    """`url` with any `user:password@` removed (and nothing else changed)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """(the URL without credentials, the credentials it carried, as written)."""
    parts = urlsplit(url.strip())
    if "@" not in parts.netloc:
        return url.strip(), None
    userinfo = parts.netloc.rpartition("@")[0]
    username, _, password = userinfo.partition(":")
    return without_userinfo(url.strip()), Credentials(unquote(username), unquote(password))


def origin_key(url: str) -> str:
    """scheme://host:port as httpx reads the URL (the port always written), the key credentials are kept by."""
    try:
        parsed = httpx.URL(url)
        scheme, host, port = parsed.scheme, parsed.host, parsed.port
    except httpx.InvalidURL:  # httpx cannot connect there at all; a key all the same
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname or "", None
    port = port or {"http": 80, "https": 443}.get(scheme, 0)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


def credentials_path(state_dir: Path) -> Path:
    return Path(state_dir) / CREDENTIALS_FILE


def load_credentials(state_dir: Path) -> dict[str, Credentials]:
    """origin -> credentials kept for followed sources (empty when there are none)."""
    try:
        data = json.loads(credentials_path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {origin: Credentials(entry["username"], entry["password"]) for origin, entry in data.items()
            if isinstance(entry, dict) and isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str)}


def keep_credentials(state_dir: Path, origin: str, credentials: Credentials) -> Path:
    """Store `credentials` for `origin`, in a file only the user can read (written atomically)."""
    stored = load_credentials(state_dir)
    stored[origin] = credentials
    return _write(state_dir, stored)


def forget_credentials(state_dir: Path, origin: str) -> bool:
    stored = load_credentials(state_dir)
    if stored.pop(origin, None) is None:
        return False
    _write(state_dir, stored)
    return True


def _write(state_dir: Path, stored: dict[str, Credentials]) -> Path:
    path = credentials_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {origin: {"username": c.username, "password": c.password} for origin, c in sorted(stored.items())}
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-credentials-")  # created 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=1)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


# Credentials given to `newsflow ingest URL` for this run only: the CLI puts them here, rather
# than in the flow's parameters (which Prefect stores) or on disk.
_for_this_process: dict[str, Credentials] = {}
_lock = threading.Lock()


def remember_for_this_process(origin: str, credentials: Credentials) -> None:
    with _lock:
        _for_this_process[origin] = credentials


def credentials_for_fetching(state_dir: Path) -> dict[str, Credentials]:
    """What a fetch may send: the kept credentials, and those given to this process."""
    with _lock:
        return {**load_credentials(state_dir), **_for_this_process}
