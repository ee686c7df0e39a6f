from __future__ import annotations

import hashlib
import http.server
import json
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from workbench.translate.build_package import build_tiny_package
from pipeline.translate.packages import (
    InstalledModel,
    ModelInstallError,
    find_model,
    install_from_index,
    install_hint,
    install_package_file,
    list_installed_packages,
)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture
def serve(tmp_path: Path):
    """Serve a folder over HTTP on a free loopback port; yields a function folder -> base URL."""
    servers = []

    def start(folder: Path) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def index_entry(package: Path, **overrides) -> dict:
    entry = {
        "package_version": "1.9",
        "argos_version": "1.0",
        "from_code": "id",
        "from_name": "Indonesian",
        "to_code": "en",
        "to_name": "English",
        "links": [package.name],
    }
    entry.update(overrides)
    return entry


def write_mirror(folder: Path, package: Path, entries: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / package.name).write_bytes(package.read_bytes())
    (folder / "index.json").write_text(json.dumps(entries))
    return folder


def test_package_build_is_deterministic_and_has_argos_layout(tiny_package: Path, tmp_path: Path):
    again = build_tiny_package(tmp_path)
    assert sha256_of(again) == sha256_of(tiny_package)
    names = zipfile.ZipFile(tiny_package).namelist()
    assert {n.split("/")[0] for n in names} == {"translate-id_en-1_9"}
    for required in ("metadata.json", "sentencepiece.model", "model/model.bin", "model/config.json"):
        assert f"translate-id_en-1_9/{required}" in names


def test_install_from_file_then_list_and_find(tiny_package: Path, packages_dir: Path):
    assert list_installed_packages() == []
    model = install_package_file(tiny_package)

    assert model == InstalledModel(
        from_code="id", to_code="en", name="translate-id_en", version="1.9", path=packages_dir / "translate-id_en-1_9"
    )
    assert model.label == "translate-id_en 1.9"
    assert (model.path / "model" / "model.bin").is_file()
    assert list_installed_packages() == [model]
    assert find_model("id", "en") == model
    assert find_model("en", "id") is None
    assert find_model("fr", "en") is None


def test_installed_package_is_readable_by_argos(installed_model: InstalledModel):
    from argostranslate.package import Package

    package = Package(installed_model.path)
    assert (package.from_code, package.to_code, package.package_version) == ("id", "en", "1.9")


def test_install_replaces_an_earlier_install_of_the_same_pair(tiny_package: Path, tmp_path: Path):
    old = install_package_file(tiny_package)
    newer = install_package_file(build_tiny_package(tmp_path, version="2.0"))

    assert list_installed_packages() == [newer]
    assert newer.version == "2.0"
    assert not old.path.exists()
    assert find_model("id", "en").label == "translate-id_en 2.0"


def test_another_pair_is_kept_beside(tiny_package: Path, tmp_path: Path):
    install_package_file(tiny_package)
    install_package_file(build_tiny_package(tmp_path, from_code="ms"))
    assert [(m.from_code, m.to_code) for m in list_installed_packages()] == [("id", "en"), ("ms", "en")]


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


GOOD_METADATA = json.dumps({"from_code": "id", "to_code": "en", "package_version": "1.0"}).encode()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a/metadata.json": GOOD_METADATA, "b/model/model.bin": b"x"}, "exactly one top-level folder"),
        ({"metadata.json": GOOD_METADATA}, "exactly one top-level folder"),
        ({"p/metadata.json": GOOD_METADATA, "p/sentencepiece.model": b"x"}, "lacks model/model.bin"),
        ({"p/model/model.bin": b"x", "p/sentencepiece.model": b"x"}, "lacks metadata.json"),
        (
            {"p/metadata.json": b'{"from_code": "id"}', "p/model/model.bin": b"x", "p/sentencepiece.model": b"x"},
            "must name from_code and to_code",
        ),
        (
            {"p/metadata.json": b"{not json", "p/model/model.bin": b"x", "p/sentencepiece.model": b"x"},
            "not valid JSON",
        ),
        (
            {"p/metadata.json": GOOD_METADATA, "p/model/model.bin": b"x", "p/sentencepiece.model": b"x", "p/../evil": b"x"},
            "not a safe argos package",
        ),
    ],
)
def test_install_rejects_malformed_packages(tmp_path: Path, files: dict[str, bytes], message: str):
    with pytest.raises(ModelInstallError, match=message):
        install_package_file(_zip(tmp_path / "bad.argosmodel", files))
    assert list_installed_packages() == []


def test_install_rejects_a_file_that_is_not_a_zip(tmp_path: Path):
    not_zip = tmp_path / "model.argosmodel"
    not_zip.write_text("hello")
    with pytest.raises(ModelInstallError, match="not a zip archive"):
        install_package_file(not_zip)
    with pytest.raises(ModelInstallError, match="does not exist"):
        install_package_file(tmp_path / "missing.argosmodel")


def test_install_from_index_over_http(tiny_package: Path, tmp_path: Path, serve):
    entries = [
        index_entry(tiny_package, from_code="en", to_code="id", links=["nowhere.argosmodel"]),
        index_entry(tiny_package, sha256=sha256_of(tiny_package)),
    ]
    base = serve(write_mirror(tmp_path / "mirror", tiny_package, entries))

    model = install_from_index("id", index_url=base)

    assert (model.from_code, model.to_code, model.label) == ("id", "en", "translate-id_en 1.9")
    assert list_installed_packages() == [model]


def test_install_from_index_uses_the_argos_index_setting(tiny_package: Path, tmp_path: Path, serve, monkeypatch):
    url = serve(write_mirror(tmp_path / "mirror", tiny_package, [index_entry(tiny_package)]))
    monkeypatch.setenv("ARGOS_PACKAGE_INDEX", url)
    assert install_from_index("id").label == "translate-id_en 1.9"


def test_install_from_index_rejects_a_checksum_mismatch(tiny_package: Path, tmp_path: Path, serve):
    entries = [index_entry(tiny_package, checksum="sha256:" + "0" * 64)]
    base = serve(write_mirror(tmp_path / "mirror", tiny_package, entries))

    with pytest.raises(ModelInstallError, match="sha256"):
        install_from_index("id", index_url=base)
    assert list_installed_packages() == []


def test_install_from_a_local_mirror_folder_whose_links_point_online(tiny_package: Path, tmp_path: Path, closed_url):
    entries = [index_entry(tiny_package, links=[closed_url + tiny_package.name], checksum=sha256_of(tiny_package))]
    mirror = write_mirror(tmp_path / "mirror", tiny_package, entries)

    assert install_from_index("id", index_url=str(mirror)).label == "translate-id_en 1.9"


def test_install_from_index_offline_names_the_file_option(closed_url):
    with pytest.raises(ModelInstallError) as failure:
        install_from_index("id", index_url=closed_url)
    message = str(failure.value)
    assert "Cannot reach" in message
    assert "newsflow models install id --file PATH.argosmodel" in message
    assert list_installed_packages() == []


def test_install_from_index_when_the_download_is_unreachable(tiny_package: Path, tmp_path: Path, serve, closed_url):
    entries = [index_entry(tiny_package, links=[closed_url + "translate-id_en.argosmodel"])]
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "index.json").write_text(json.dumps(entries))
    base = serve(tmp_path / "index")

    with pytest.raises(ModelInstallError, match="--file PATH.argosmodel"):
        install_from_index("id", index_url=base)


def test_install_from_index_without_the_pair(tiny_package: Path, tmp_path: Path, serve):
    base = serve(write_mirror(tmp_path / "mirror", tiny_package, [index_entry(tiny_package, from_code="fr")]))
    with pytest.raises(ModelInstallError, match="no id->en translation package"):
        install_from_index("id", index_url=base)


def test_install_hint_is_the_cli_command():
    assert install_hint("id") == "newsflow models install id"


def test_install_several_languages_from_a_local_mirror_given_as_a_file_url(tiny_package: Path, tmp_path: Path):
    malay = build_tiny_package(tmp_path / "ms", from_code="ms")
    mirror = write_mirror(tmp_path / "mirror", tiny_package, [])
    (mirror / malay.name).write_bytes(malay.read_bytes())
    entries = [index_entry(tiny_package, sha256=sha256_of(tiny_package)), index_entry(malay, from_code="ms", from_name="Malay")]
    (mirror / "index.json").write_text(json.dumps(entries))

    installed = [install_from_index(lang, index_url=(mirror / "index.json").as_uri()) for lang in ("id", "ms")]

    assert [m.label for m in installed] == ["translate-id_en 1.9", "translate-ms_en 1.9"]
    assert list_installed_packages() == installed


def _garbage_fr_package(path: Path) -> Path:
    metadata = json.dumps({"from_code": "fr", "to_code": "en", "package_version": "9.9", "type": "translate"}).encode()
    return _zip(path, {"translate-fr_en-9_9/metadata.json": metadata,
                       "translate-fr_en-9_9/model/model.bin": b"0123456789abcdef",
                       "translate-fr_en-9_9/model/config.json": b"{}",
                       "translate-fr_en-9_9/sentencepiece.model": b"not a sentencepiece model"})


def test_a_package_whose_model_does_not_load_is_refused_and_the_working_one_is_kept(tmp_path: Path):
    working = install_package_file(build_tiny_package(tmp_path / "good", from_code="fr"))
    before = sorted(p.relative_to(working.path) for p in working.path.rglob("*"))

    with pytest.raises(ModelInstallError, match="does not load|could not translate"):
        install_package_file(_garbage_fr_package(tmp_path / "garbage.argosmodel"))

    assert [(m.from_code, m.version, m.path) for m in list_installed_packages()] == [("fr", working.version, working.path)]
    assert sorted(p.relative_to(working.path) for p in working.path.rglob("*")) == before
    assert not [p for p in working.path.parent.iterdir() if p.name.startswith(".newsflow-install-")]


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NEWSFLOW_MODEL_MAX_UNPACKED_MB", "8")
    bomb = tmp_path / "bomb.argosmodel"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("p/metadata.json", GOOD_METADATA)
        archive.writestr("p/model/model.bin", b"\0" * (32 * 1024 * 1024))
        archive.writestr("p/sentencepiece.model", b"x")
    assert bomb.stat().st_size < 1024 * 1024

    with pytest.raises(ModelInstallError, match="unpacks to 32.0 MB, over the limit of 8.0 MB"):
        install_package_file(bomb)
    assert list_installed_packages() == []


def test_an_archive_over_the_size_limit_is_refused(tmp_path: Path, tiny_package: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NEWSFLOW_MODEL_MAX_MB", str(tiny_package.stat().st_size / 2 / 1024 / 1024))
    with pytest.raises(ModelInstallError, match="over the limit"):
        install_package_file(tiny_package)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"from_code": "indonesian", "to_code": "en"}, "language code"),
        ({"from_code": "id", "to_code": "en/../x"}, "language code"),
        ({"from_code": "id", "to_code": "en", "package_version": ["1"]}, "package_version"),
    ],
)
def test_metadata_fields_are_checked(tmp_path: Path, metadata: dict, message: str):
    files = {"p/metadata.json": json.dumps(metadata).encode(), "p/model/model.bin": b"x", "p/sentencepiece.model": b"x"}
    with pytest.raises(ModelInstallError, match=message):
        install_package_file(_zip(tmp_path / "bad.argosmodel", files))
