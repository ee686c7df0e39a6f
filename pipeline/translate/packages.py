"""Argos translation packages: list, install from a file, install from a package index.

An argos package (`.argosmodel`) is a zip of one folder holding `metadata.json`, a CTranslate2
`model/` folder and `sentencepiece.model`. Installing means extracting that folder into argos's
package directory, exactly as argos's own installer does, so argos tools see the same packages.
We do not call argos's installer: it imports `argostranslate.translate`, which needs torch.

`argostranslate.settings` reads its environment and creates directories under $HOME when first
imported, so it is imported lazily, and the package directory is resolved on every call
(`ARGOS_PACKAGES_DIR` wins, as in argos).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from packaging.version import InvalidVersion, Version

from pipeline.translate.engine import TranslationEngine
from pipeline.translate.installed_model import InstalledModel

REQUIRED_FILES = ("metadata.json", "model/model.bin", "sentencepiece.model")
# Real argos packages are 30-300 MB; the limits stop a corrupt or hostile file, not a model.
MAX_PACKAGE_MB_ENV, DEFAULT_MAX_PACKAGE_MB = "NEWSFLOW_MODEL_MAX_MB", 2048.0
MAX_UNPACKED_MB_ENV, DEFAULT_MAX_UNPACKED_MB = "NEWSFLOW_MODEL_MAX_UNPACKED_MB", 4096.0
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:[_-][A-Za-z]{2,4})?$")
SMOKE_TEST_SENTENCE = "Hello."
INDEX_FILENAME = "index.json"
NETWORK_TIMEOUT_SECONDS = 30
_DOWNLOAD_CHUNK_BYTES = 1 << 20


class ModelInstallError(Exception):
    """A package could not be found, fetched, verified or installed; the message says why."""


def install_hint(lang: str) -> str:
    """The command that installs the model translating `lang` into English."""
    return f"newsflow models install {lang}"


def offline_hint(lang: str) -> str:
    return f"newsflow models install {lang} --file PATH.argosmodel"


def packages_dir() -> Path:
    from argostranslate import settings

    return Path(settings.get_setting("ARGOS_PACKAGES_DIR", default=settings.package_data_dir))


def default_index_url() -> str:
    from argostranslate import settings

    return str(settings.get_setting("ARGOS_PACKAGE_INDEX", default=settings.package_index))


def version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _installed_model(package) -> InstalledModel:
    from argostranslate.package import argospm_package_name

    return InstalledModel(
        from_code=package.from_code,
        to_code=package.to_code,
        name=argospm_package_name(package),
        version=str(package.package_version or ""),
        path=Path(package.package_path),
        target_prefix=package.target_prefix or "",
    )


def list_installed_packages() -> list[InstalledModel]:
    """Installed translation packages that this pipeline can run (CTranslate2 + SentencePiece)."""
    from argostranslate.package import Package

    directory = packages_dir()
    if not directory.is_dir():
        return []
    models = []
    for folder in sorted(directory.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        if not all((folder / name).is_file() for name in REQUIRED_FILES):
            continue
        try:
            package = Package(folder)
        except (OSError, ValueError):
            continue  # a half-written or foreign folder is not a package
        if package.type == "translate" and package.from_code and package.to_code:
            models.append(_installed_model(package))
    return sorted(models, key=lambda m: (m.from_code, m.to_code, version_key(m.version)))


def find_model(from_code: str, to_code: str) -> InstalledModel | None:
    """The newest installed package translating `from_code` into `to_code`, if any."""
    matches = [m for m in list_installed_packages() if m.from_code == from_code and m.to_code == to_code]
    return max(matches, key=lambda m: version_key(m.version)) if matches else None


def _limit_mb(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ModelInstallError(f"{name}={raw!r} is not a number of megabytes.") from None


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _read_package_metadata(path: Path) -> tuple[str, dict]:
    """Validate the archive's size, layout and metadata; return (root folder, metadata)."""
    if not path.is_file():
        raise ModelInstallError(f"{path} does not exist or is not a file.")
    if not zipfile.is_zipfile(path):
        raise ModelInstallError(f"{path} is not an argos package: it is not a zip archive.")
    max_package = _limit_mb(MAX_PACKAGE_MB_ENV, DEFAULT_MAX_PACKAGE_MB)
    if path.stat().st_size > max_package * 1024 * 1024:
        raise ModelInstallError(
            f"{path} is {_mb(path.stat().st_size)}, over the limit of {max_package:.1f} MB for a model package "
            f"(raise {MAX_PACKAGE_MB_ENV} if it really is one)."
        )
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
        max_unpacked = _limit_mb(MAX_UNPACKED_MB_ENV, DEFAULT_MAX_UNPACKED_MB)
        if unpacked > max_unpacked * 1024 * 1024:
            raise ModelInstallError(
                f"{path} unpacks to {_mb(unpacked)}, over the limit of {max_unpacked:.1f} MB; nothing was "
                f"unpacked (raise {MAX_UNPACKED_MB_ENV} if it really is a model)."
            )
        names = [n for n in archive.namelist() if n and not n.startswith("__MACOSX/")]
        for name in names:
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts or "\\" in name:
                raise ModelInstallError(f"{path} is not a safe argos package: it holds the path {name!r}.")
        roots = {PurePosixPath(n).parts[0] for n in names}
        loose = [n for n in names if "/" not in n.rstrip("/") and not n.endswith("/")]
        if len(roots) != 1 or loose:
            raise ModelInstallError(
                f"{path} is not an argos package: it must hold exactly one top-level folder "
                f"(found {', '.join(sorted(roots)) or 'nothing'})."
            )
        root = roots.pop()
        missing = [f for f in REQUIRED_FILES if f"{root}/{f}" not in names]
        if missing:
            raise ModelInstallError(
                f"{path} is not a usable argos package: {root}/ lacks {', '.join(missing)}."
            )
        try:
            metadata = json.loads(archive.read(f"{root}/metadata.json"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ModelInstallError(f"{path}: {root}/metadata.json is not valid JSON ({err}).") from err
    if not isinstance(metadata, dict) or not all(
        isinstance(metadata.get(key), str) and metadata.get(key) for key in ("from_code", "to_code")
    ):
        raise ModelInstallError(f"{path}: {root}/metadata.json must name from_code and to_code.")
    if metadata.get("type", "translate") != "translate":
        raise ModelInstallError(f"{path} is a {metadata.get('type')!r} package, not a translation package.")
    for key in ("from_code", "to_code"):
        if not LANGUAGE_CODE.match(metadata[key]):
            raise ModelInstallError(f"{path}: metadata.json {key} {metadata[key]!r} is not a language code (like 'id' or 'en').")
    if not isinstance(metadata.get("package_version", ""), (str, int, float)):
        raise ModelInstallError(f"{path}: metadata.json package_version must be a version string.")
    return root, metadata


def _smoke_test(folder: Path, metadata: dict, source: Path) -> None:
    """Load the unpacked package the way the pipeline will and translate one sentence."""
    model = InstalledModel(
        from_code=metadata["from_code"], to_code=metadata["to_code"], name=folder.name,
        version=str(metadata.get("package_version", "")), path=folder,
        target_prefix=str(metadata.get("target_prefix") or ""),
    )
    try:
        engine = TranslationEngine(model, intra_threads=1, max_batch_size=1)
    except Exception as error:  # CTranslate2 and SentencePiece raise assorted errors on bad files
        raise ModelInstallError(
            f"{source} does not load as a translation model ({type(error).__name__}: {error}); nothing was replaced."
        ) from error
    try:
        translated = engine.translate_sentences([SMOKE_TEST_SENTENCE])
    except Exception as error:
        raise ModelInstallError(
            f"{source} loads but could not translate a test sentence ({type(error).__name__}: {error}); nothing was replaced."
        ) from error
    if len(translated) != 1 or not isinstance(translated[0], str):
        raise ModelInstallError(f"{source} loads but could not translate a test sentence; nothing was replaced.")


def package_file_languages(path: Path) -> tuple[str, str]:
    """(from_code, to_code) of an `.argosmodel` file, read from its metadata without installing it."""
    _, metadata = _read_package_metadata(Path(path))
    return metadata["from_code"], metadata["to_code"]


def install_package_file(path: Path) -> InstalledModel:
    """Install an `.argosmodel` file, replacing any installed package for the same language pair,
    once it is checked: size limits, layout, metadata, and that it loads and translates a sentence.
    A package that fails any check changes nothing."""
    from argostranslate.package import Package, package_lock

    path = Path(path)
    root, metadata = _read_package_metadata(path)
    target_dir = packages_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    # Extract beside the package directory, then move in: argos never sees a half-written package.
    staging = Path(tempfile.mkdtemp(prefix=".newsflow-install-", dir=target_dir.parent))
    try:
        try:
            with zipfile.ZipFile(path) as archive:
                archive.extractall(staging)
        except (OSError, zipfile.BadZipFile) as err:
            raise ModelInstallError(f"Could not extract {path}: {err}.") from err
        _smoke_test(staging / root, metadata, path)
        with package_lock:
            for old in list_installed_packages():
                if old.from_code == metadata["from_code"] and old.to_code == metadata["to_code"]:
                    shutil.rmtree(old.path)
            destination = target_dir / root
            if destination.exists():
                shutil.rmtree(destination)
            shutil.move(str(staging / root), str(destination))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _installed_model(Package(destination))


def _index_location(index_url: str) -> str:
    """A URL for the index JSON, from a base URL, a URL of the JSON itself or a local folder/file."""
    if "://" not in index_url:
        local = Path(index_url).expanduser().resolve()
        return (local / INDEX_FILENAME if local.is_dir() or not local.suffix else local).as_uri()
    if index_url.endswith(".json"):
        return index_url
    return index_url.rstrip("/") + "/" + INDEX_FILENAME


def _offline_error(lang: str, where: str, err: BaseException) -> ModelInstallError:
    reason = getattr(err, "reason", None) or err
    if isinstance(reason, OSError) and reason.strerror:  # the reason, not its repr ([Errno 111] ...)
        reason = reason.strerror.lower()
    return ModelInstallError(
        f"Cannot reach {where} ({reason}); to install without network access, copy the package "
        f"file to this machine and run `{offline_hint(lang)}`."
    )


def _fetch_index(url: str, lang: str) -> list[dict]:
    try:
        with urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT_SECONDS) as response:
            data = response.read()
    except urllib.error.HTTPError as err:
        raise ModelInstallError(f"The model index at {url} answered HTTP {err.code}.") from err
    except (urllib.error.URLError, OSError) as err:
        raise _offline_error(lang, f"the model index at {url}", err) from err
    try:
        index = json.loads(data)
    except ValueError as err:
        raise ModelInstallError(f"The model index at {url} is not valid JSON ({err}).") from err
    if not isinstance(index, list):
        raise ModelInstallError(f"The model index at {url} is not a list of packages.")
    return [entry for entry in index if isinstance(entry, dict)]


def _pick_entry(index: list[dict], lang: str, target: str) -> dict | None:
    matches = [
        e
        for e in index
        if e.get("from_code") == lang and e.get("to_code") == target and e.get("type", "translate") == "translate"
    ]
    return max(matches, key=lambda e: version_key(str(e.get("package_version", "")))) if matches else None


def _candidate_urls(entry: dict, index_url: str) -> list[str]:
    links = [str(link) for link in entry.get("links") or [] if link]
    urls = [urllib.parse.urljoin(index_url, link) for link in links]
    if urllib.parse.urlparse(index_url).scheme == "file":
        # A local mirror holds the package files beside index.json, whatever the links say.
        mirrored = [
            urllib.parse.urljoin(index_url, PurePosixPath(urllib.parse.urlparse(link).path).name) for link in links
        ]
        urls = mirrored + urls
    return list(dict.fromkeys(urls))


def _expected_sha256(entry: dict) -> str | None:
    value = entry.get("sha256") or entry.get("checksum")
    if not value:
        return None
    value = str(value).strip().lower()
    return value.split(":", 1)[1] if value.startswith("sha256:") else value


def _download(url: str, destination: Path) -> str:
    """Stream `url` into `destination`; return the sha256 of the bytes."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT_SECONDS) as response, open(destination, "wb") as out:
        while chunk := response.read(_DOWNLOAD_CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def install_from_index(lang: str, *, index_url: str | None = None, target: str = "en") -> InstalledModel:
    """Fetch the package index, download the `lang`->`target` package, verify it and install it.

    `index_url` is an http(s):// or file:// base (or the URL of index.json itself), or a local
    folder holding index.json and the package files; it defaults to argos's index
    (ARGOS_PACKAGE_INDEX).
    """
    url = _index_location(index_url or default_index_url())
    entry = _pick_entry(_fetch_index(url, lang), lang, target)
    if entry is None:
        raise ModelInstallError(f"The model index at {url} has no {lang}->{target} translation package.")
    candidates = _candidate_urls(entry, url)
    if not candidates:
        raise ModelInstallError(f"The index entry for {lang}->{target} at {url} has no download links.")
    expected = _expected_sha256(entry)
    last_error: BaseException | None = None
    with tempfile.TemporaryDirectory(prefix="newsflow-model-") as work:
        download = Path(work) / f"translate-{lang}_{target}.argosmodel"
        for candidate in candidates:
            try:
                actual = _download(candidate, download)
            except (urllib.error.URLError, OSError) as err:
                last_error = err
                continue
            if expected and actual != expected:
                raise ModelInstallError(
                    f"The package downloaded from {candidate} has sha256 {actual}, but the index "
                    f"says {expected}: the download is corrupt or the index is stale; nothing was installed."
                )
            return install_package_file(download)
    assert last_error is not None
    if isinstance(last_error, urllib.error.HTTPError):
        raise ModelInstallError(
            f"Could not download the {lang}->{target} package (HTTP {last_error.code} from {candidates[-1]})."
        ) from last_error
    raise _offline_error(lang, f"the {lang}->{target} package download ({candidates[-1]})", last_error) from last_error
