"""The `newsflow` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest

from pipeline.translate.build_package import build_tiny_package
from tests.conftest import PROJECT_ROOT

NEWSFLOW = [sys.executable, "-m", "flows.cli"]


def run(args, env=None, input_text=None, check=True):
    result = subprocess.run(NEWSFLOW + args, env=env or dict(os.environ), cwd=PROJECT_ROOT, input=input_text,
                            capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def isolated_env(tmp_path):
    env = dict(os.environ)
    env.update({
        "ARGOS_PACKAGES_DIR": str(tmp_path / "argos-packages"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "ARGOS_PACKAGE_INDEX": "http://127.0.0.1:9/",  # a closed port: offline
    })
    return env


def test_detect_prints_one_json_object_per_line_in_order(isolated_env):
    texts = "Presiden Rusia bertemu dengan Menteri Luar Negeri Korea Utara di Moskow.\nThe minister landed in Pyongyang on Saturday.\n+44 7822 014058\n안녕하세요\n"
    result = run(["detect", "--lines", "--format", "jsonl"], env=isolated_env, input_text=texts)
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["language"] for o in objects] == ["id", "en", "und", "ko"]
    assert all(set(o) == {"language", "confidence"} and 0.0 <= o["confidence"] <= 1.0 for o in objects)
    assert objects[2]["confidence"] == 0.0


def test_detect_takes_an_argument_or_a_file(isolated_env, tmp_path):
    as_argument = run(["detect", "El gobierno anunció nuevas medidas económicas.", "--format", "jsonl"], env=isolated_env)
    assert json.loads(as_argument.stdout)["language"] == "es"
    page = tmp_path / "page.txt"
    page.write_text("Die Regierung hat am Montag neue Maßnahmen angekündigt.\n", encoding="utf-8")
    from_file = run(["detect", "--file", str(page), "--format", "jsonl"], env=isolated_env)
    assert json.loads(from_file.stdout)["language"] == "de"


def test_models_install_from_file_then_list(isolated_env, tmp_path):
    assert "No translation models installed" in run(["models", "list"], env=isolated_env).stdout
    package = build_tiny_package(tmp_path / "pkg")
    installed = run(["models", "install", "--file", str(package)], env=isolated_env)
    assert "installed" in installed.stdout
    listing = run(["models", "list"], env=isolated_env).stdout
    assert "id" in listing and "en" in listing


def test_models_install_offline_names_the_file_option(isolated_env):
    result = run(["models", "install", "id"], env=isolated_env, check=False)
    assert result.returncode != 0
    assert "--file" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.server
def test_missing_model_then_install_then_translate_pending(prefect_env, tmp_path):
    env = dict(prefect_env)
    warehouse = tmp_path / "news.duckdb"
    first = run(["ingest", "seeds", "--warehouse", str(warehouse)], env=env)
    assert "newsflow models install id" in first.stdout

    run(["models", "install", "--file", str(build_tiny_package(tmp_path / "pkg"))], env=env)
    pending = run(["translate", "--pending", "--warehouse", str(warehouse)], env=env)
    assert "translated 1 of 1" in pending.stdout

    with duckdb.connect(str(warehouse), read_only=True) as con:
        status, model, text, text_en = con.execute(
            "select translation_status, translation_model, text, text_en from articles where language = 'id'"
        ).fetchone()
        cached = con.execute("select count(*) from translation_cache where model like 'translate-id_en%'").fetchone()[0]
        english = con.execute("select count(*) from articles where language = 'en' and translation_status = 'not_needed' and text_en = text").fetchone()[0]
    assert status == "translated" and model.startswith("translate-id_en")
    assert text_en and text_en != text
    assert text_en.count("\n\n") == text.count("\n\n"), "paragraph structure is kept"
    assert english == 4
    assert cached > 0, "translations are cached by (model, sentence)"

    again = run(["ingest", "seeds", "--warehouse", str(warehouse)], env=env)
    assert "unchanged" in again.stdout
