"""The `newsflow` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest

from workbench.translate.build_package import build_tiny_package
from tests.conftest import NEWSFLOW, PROJECT_ROOT, newsflow, seeds_copy
from tests.flows.processes import FollowedOutput


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
    result = newsflow(["detect", "--lines", "--format", "jsonl"], env=isolated_env, input_text=texts)
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["language"] for o in objects] == ["id", "en", "und", "ko"]
    assert all(set(o) == {"language", "confidence"} and 0.0 <= o["confidence"] <= 1.0 for o in objects)
    assert objects[2]["confidence"] == 0.0


def test_detect_takes_an_argument_or_a_file(isolated_env, tmp_path):
    as_argument = newsflow(["detect", "El gobierno anunció nuevas medidas económicas.", "--format", "jsonl"], env=isolated_env)
    assert json.loads(as_argument.stdout)["language"] == "es"
    page = tmp_path / "page.txt"
    page.write_text("Die Regierung hat am Montag neue Maßnahmen angekündigt.\n", encoding="utf-8")
    from_file = newsflow(["detect", "--file", str(page), "--format", "jsonl"], env=isolated_env)
    assert json.loads(from_file.stdout)["language"] == "de"


def test_models_install_from_file_then_list(isolated_env, tmp_path):
    assert "No translation models installed" in newsflow(["models", "list"], env=isolated_env).stdout
    package = build_tiny_package(tmp_path / "pkg")
    installed = newsflow(["models", "install", "--file", str(package)], env=isolated_env)
    assert "installed" in installed.stdout
    listing = newsflow(["models", "list"], env=isolated_env).stdout
    assert "id" in listing and "en" in listing


def test_models_install_offline_names_the_file_option(isolated_env):
    result = newsflow(["models", "install", "id"], env=isolated_env, check=False)
    assert result.returncode != 0
    assert "--file" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.server
def test_missing_model_then_install_then_translate_pending(prefect_env, tmp_path):
    env = dict(prefect_env)
    warehouse = tmp_path / "news.duckdb"
    first = newsflow(["ingest", str(seeds_copy()), "--warehouse", str(warehouse)], env=env)
    assert "newsflow models install id" in first.stdout

    newsflow(["models", "install", "--file", str(build_tiny_package(tmp_path / "pkg"))], env=env)
    pending = newsflow(["translate", "--pending", "--warehouse", str(warehouse)], env=env)
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

    again = newsflow(["ingest", str(seeds_copy()), "--warehouse", str(warehouse)], env=env)
    assert "unchanged" in again.stdout


def test_models_install_with_a_language_and_its_file_installs_the_file_and_stops(isolated_env, tmp_path):
    package = build_tiny_package(tmp_path / "pkg")
    result = newsflow(["models", "install", "id", "--file", str(package)], env=isolated_env, check=False)
    assert result.returncode == 0, result.stderr
    assert "installed translate-id_en" in result.stdout
    assert result.stderr == "", "no index is tried and no offline advice is printed"
    assert "translate-id_en" in newsflow(["models", "list"], env=isolated_env).stdout


def test_models_install_with_a_file_for_another_language_installs_nothing(isolated_env, tmp_path):
    package = build_tiny_package(tmp_path / "pkg")
    result = newsflow(["models", "install", "fr", "--file", str(package)], env=isolated_env, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "fr" in lines[0] and "id→en" in lines[0], result.stderr
    assert "No translation models installed" in newsflow(["models", "list"], env=isolated_env).stdout


@pytest.mark.server
def test_ingest_of_a_path_that_does_not_exist_is_one_line_and_no_rejection(prefect_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    result = newsflow(["ingest", "seeds/004_2d2b0ea8dc19c5b8.txt", "seeds/no-such-file.txt", "--warehouse", str(warehouse)], env=prefect_env, check=False,
                      cwd=seeds_copy().parent)  # a relative path as a user types it, never into the checkout's seeds/
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "seeds/no-such-file.txt" in lines[0] and "004_" not in lines[0], result.stderr
    assert not warehouse.exists(), "nothing ran, so no rejected_files row was written"


def test_a_query_waiting_for_a_writer_says_so_then_names_it(isolated_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    duckdb.connect(str(warehouse)).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, duckdb\nc = duckdb.connect(sys.argv[1])\nprint('locked', flush=True)\ntime.sleep(60)\n", str(warehouse)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        env = dict(isolated_env, NEWSFLOW_LOCK_TIMEOUT_S="1")
        result = newsflow(["sql", "select 1", "--warehouse", str(warehouse)], env=env, check=False)
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 1
    waiting, error = result.stderr.strip().splitlines()
    assert waiting.startswith("Waiting up to 1 s for") and f"PID {writer.pid}" in waiting
    assert error.startswith("error: The warehouse") and f"PID {writer.pid}" in error and "duckdb.connect" in error


HOLD_RUN_LOCK = """
import sys
from pathlib import Path
from pipeline.warehouse import exclusive_run
with exclusive_run(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes it
"""


@pytest.mark.server
def test_an_ingest_waiting_for_another_run_tells_the_user(prefect_env, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "note.txt").write_text("A short note about the harbour reopening after the storm, with the mayor's words.\n", encoding="utf-8")
    warehouse = tmp_path / "news.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN_LOCK, str(warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=PROJECT_ROOT)
    ingest = None
    try:
        assert holder.stdout.readline().strip() == "locked"
        ingest = subprocess.Popen(NEWSFLOW + ["ingest", str(drop), "--warehouse", str(warehouse)], env=prefect_env,
                                  cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stderr = FollowedOutput(ingest.stderr)
        # The run waits for the lock, and says so, until the holder lets go: the holder lets go
        # once the line is there, however long the run took to start (300 s: a safety net).
        waiting = stderr.wait_for_line(lambda line: line.startswith("Waiting for another ingest run"), 300)
        holder.stdin.close()
        ingest.stdout.read()
        ingest.wait(300)
    finally:
        holder.kill()
        holder.wait()
        if ingest is not None and ingest.poll() is None:
            ingest.kill()
            ingest.wait()
    stderr = stderr.text()
    assert waiting, stderr
    assert ingest.returncode == 0, stderr
    waits = [line for line in stderr.splitlines() if line.startswith("Waiting for another ingest run")]
    assert len(waits) == 1 and f"PID {holder.pid}" in waits[0], stderr
    assert "Traceback" not in stderr


def test_validation_errors_show_what_is_wrong_not_only_their_count():
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    from flows.cli import _error_message

    with pytest.raises(ValidationError) as caught:
        CronSchedule(cron="* * *")
    message = _error_message(caught.value)
    assert "Invalid cron string" in message and "* * *" in message
    assert "errors.pydantic.dev" not in message and "\n" not in message


def test_a_model_that_breaks_after_install_shows_in_the_summary_and_the_warehouse_with_its_reason(prefect_env, tmp_path):
    env = dict(prefect_env)
    warehouse = tmp_path / "news.duckdb"
    newsflow(["models", "install", "--file", str(build_tiny_package(tmp_path / "pkg"))], env=env)
    (model_bin,) = (tmp_path / "argos-packages").glob("*/model/model.bin")
    model_bin.write_bytes(b"damaged on disk")  # the install was checked; the disk was not

    result = newsflow(["ingest", "seeds/004_2d2b0ea8dc19c5b8.txt", "--warehouse", str(warehouse)], env=env, cwd=seeds_copy().parent)

    assert "translation failed" in result.stdout and "does not load" in result.stdout
    assert "newsflow models install id" in result.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select translation_status from articles").fetchall() == [("failed",)]
        (reason,) = con.execute("select reason from translation_failures join articles using (article_id)").fetchone()
    assert "does not load" in reason and "newsflow translate --pending" in reason
