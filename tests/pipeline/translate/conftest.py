"""Keep argos away from the real $HOME and from the network; build the tiny package once.

`argostranslate.settings` creates its data, config and cache folders when first imported, so it
is imported here with those folders pointed at a throw-away directory. Every test then gets its
own package directory (ARGOS_PACKAGES_DIR, read on every call) and an index URL that refuses
connections, so nothing is ever installed into ~/.local/share/argos-translate or fetched online.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
from functools import partial
from pathlib import Path

import pytest
from tests.pipeline.translate.translate_samples import DICTIONARY_CORPUS, GARBLED, ID_EN, MS_ID, RU_EN

_ARGOS_HOME = tempfile.mkdtemp(prefix="newsflow-argos-home-")
atexit.register(shutil.rmtree, _ARGOS_HOME, ignore_errors=True)

if "argostranslate.settings" not in sys.modules:
    _isolated = {
        "XDG_DATA_HOME": f"{_ARGOS_HOME}/data",
        "XDG_CONFIG_HOME": f"{_ARGOS_HOME}/config",
        "XDG_CACHE_HOME": f"{_ARGOS_HOME}/cache",
        "ARGOS_PACKAGES_DIR": f"{_ARGOS_HOME}/packages",
    }
    _saved = {name: os.environ.get(name) for name in _isolated}
    os.environ.update(_isolated)
    try:
        import argostranslate.package  # noqa: F401
        import argostranslate.settings  # noqa: F401
    finally:
        for name, value in _saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def closed_loopback_url() -> str:
    """A URL on a loopback port nobody listens on: connecting fails at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def packages_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "argos-packages"
    directory.mkdir()
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(directory))
    monkeypatch.setenv("ARGOS_PACKAGE_INDEX", closed_loopback_url())
    return directory


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from workbench.translate.build_package import build_tiny_package

    return build_tiny_package(tmp_path_factory.mktemp("tiny-package"))


@pytest.fixture
def installed_model(tiny_package: Path, packages_dir: Path):
    from pipeline.translate.packages import install_package_file

    return install_package_file(tiny_package)


@pytest.fixture
def closed_url() -> str:
    return closed_loopback_url()


# --- word-by-word dictionary models (workbench.translate.dictionary_model) ---------------------

@pytest.fixture(scope="session")
def dictionary_packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from workbench.translate.dictionary_model import build_dictionary_package

    folder = tmp_path_factory.mktemp("dictionary-packages")
    build = partial(build_dictionary_package, corpus=DICTIONARY_CORPUS)
    return {
        "id_en": build(folder / "id_en.argosmodel", ID_EN, package_version="1.9"),
        "id_en_garbled": build(folder / "id_en_garbled.argosmodel", {**ID_EN, **GARBLED}, package_version="1.9"),
        "ms_id": build(folder / "ms_id.argosmodel", MS_ID, from_code="ms", to_code="id", package_version="1.0"),
        "ru_en_garbled": build(folder / "ru_en.argosmodel", {**RU_EN, **GARBLED}, from_code="ru", package_version="1.0"),
    }
