"""End to end: the real `newsflow ingest` command, the real Prefect flow on a real server, a real DuckDB file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path

import duckdb
import pytest

from tests.conftest import NEWSFLOW, PROJECT_ROOT, SEEDS_DIR, copy_of_seeds_warehouse, newsflow, seeds_copy
from tests.flows.processes import FollowedOutput

pytestmark = pytest.mark.server


# Lines of the seeds that are page furniture, not article: none may reach articles.text.
SEED_BOILERPLATE = [
    "LEAVE A REPLY",
    "Please enter your comment!",
    "Please enter your name here",
    "Must Read",
    "spot_img",
    "HomeAsiaJakarta gambles on embracing North Korea",
    "WhatsApp (message only): +44 7822 014058",
    "Room A409, Jucai Building. No. 76 Caoyuan Hutong.",
    "Dongcheng District, Beijing, 100027, PR China",
    "中国北京市东城区草园胡同76号聚才大厦A 座409 室,",
    "Download contact card",
    "Baca artikel IDN Times lainnya di IDN App",
    "Intinya sih...",
    "Disclaimer: This summary was created using Artificial Intelligence (AI)",
    "Editor’s Picks",
    "Follow Us",
    "Latest in News",
    "See More",
    "Kejagung Pastikan Najelaa Shihab Tak Terlibat di Kasus Chromebook",
    "28 Okt 2025, 21:45 WIBNews",
    "EditorDwi Agustiar",
]


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def warehouse(prefect_env) -> Path:
    return Path(prefect_env["NEWSFLOW_WAREHOUSE"])


def test_seeds_become_clean_articles_and_a_second_run_changes_nothing(prefect_env, warehouse):
    first = newsflow(["ingest", str(seeds_copy())], prefect_env)
    assert "inserted" in first.stdout

    rows = query(warehouse, "select source_path, language, title, source_url, published_at, text, text_en, translation_status from articles order by source_path")
    assert [r[0] for r in rows] == [f"seeds/{p.name}" for p in sorted(SEEDS_DIR.iterdir())]
    languages = {r[0]: r[1] for r in rows}
    assert sorted(languages.values()) == ["en", "en", "en", "en", "id"]
    assert languages["seeds/004_2d2b0ea8dc19c5b8.txt"] == "id"
    for source_path, _, _, _, _, text, _, _ in rows:
        for line in SEED_BOILERPLATE:
            assert line not in text, f"{line!r} left in {source_path}"
    by_path = {r[0]: r for r in rows}
    assert by_path["seeds/001_f168b2729dee8f19.txt"][2] == "Jakarta gambles on embracing North Korea"
    assert by_path["seeds/004_2d2b0ea8dc19c5b8.txt"][2] == "Trump ke Jepang, Putin Bertemu Menlu Korea Utara di Istananya"
    assert by_path["seeds/000_c9229e0b42640eea.txt"][3].startswith("https://jakartaglobe.id/news/")
    assert str(by_path["seeds/004_2d2b0ea8dc19c5b8.txt"][4]).startswith("2025-10-27")
    for r in rows:
        if r[1] == "en":
            assert r[6] == r[5] and r[7] == "not_needed"
    assert by_path["seeds/004_2d2b0ea8dc19c5b8.txt"][7] == "missing_model"
    assert "newsflow models install id" in first.stdout

    second = newsflow(["ingest", str(seeds_copy())], prefect_env)
    runs = query(warehouse, "select files_seen, inserted, updated, unchanged, rejected, status from ingest_runs order by started_at")
    assert runs == [(5, 5, 0, 0, 0, "completed"), (5, 0, 0, 5, 0, "completed")]
    assert query(warehouse, "select count(*) from articles")[0][0] == 5
    assert "unchanged" in second.stdout


def test_a_changed_file_updates_its_row(prefect_env, warehouse, tmp_path):
    folder = SEEDS_DIR
    drop = tmp_path / "drop"
    drop.mkdir()
    article = drop / "story.txt"
    shutil.copy(folder / "002_c6f1a40e5c75d036.txt", article)
    newsflow(["ingest", str(drop)], prefect_env)
    (first_id, first_sha), = query(warehouse, "select article_id, content_sha256 from articles")
    article.write_text(article.read_text(encoding="utf-8").replace("unlikely friendship", "improbable friendship"), encoding="utf-8")
    newsflow(["ingest", str(drop)], prefect_env)
    rows = query(warehouse, "select article_id, content_sha256, text from articles")
    assert len(rows) == 1
    assert rows[0][0] == first_id and rows[0][1] != first_sha
    assert "improbable friendship" in rows[0][2] and "unlikely friendship" not in rows[0][2]
    assert query(warehouse, "select inserted, updated from ingest_runs order by started_at") == [(1, 0), (0, 1)]


def _png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00")) + chunk(b"IEND", b"")


def test_bad_input_never_stops_a_run_and_is_never_lost(prefect_env, warehouse, tmp_path):
    drop = tmp_path / "bad"
    drop.mkdir()
    shutil.copy(SEEDS_DIR / "000_c9229e0b42640eea.txt", drop / "good.txt")
    (drop / "empty.txt").write_bytes(b"")
    (drop / "picture.txt").write_bytes(_png_bytes())
    (drop / "noise.bin").write_bytes(bytes(range(256)) * 64)
    (drop / "menu.html").write_text("<html><body><nav><a href='/'>Home</a> <a href='/x'>World</a></nav></body></html>", encoding="utf-8")
    (drop / "huge.txt").write_text("This sentence is part of a very long article. " * 40000, encoding="utf-8")
    fifo = drop / "pipe.txt"
    os.mkfifo(fifo)
    (drop / "self.txt").symlink_to("self.txt")  # a link loop once aborted the whole run
    (drop / "passwd.txt").symlink_to("/etc/passwd")  # and links out of the folder were followed
    russian = "Министр иностранных дел Индонезии посетил Пхеньян впервые за десять лет, сообщили в министерстве. "
    (drop / "russian.txt").write_bytes((russian * 8).encode("utf-16-le"))  # no byte-order mark
    paragraph = "<p>The minister met his counterpart in the capital on Saturday and discussed trade for hours.</p>"
    (drop / "deep.html").write_text("<html><body>" + "<div>" * 3000 + paragraph * 5 + "</div>" * 3000 + "</body></html>", encoding="utf-8")
    # (a path named on the command line that does not exist is refused before the run: tests/flows/test_cli.py;
    # a file that vanishes during a run is rejected as file_vanished: tests/pipeline/test_sources.py)

    result = newsflow(["ingest", str(drop), "--max-file-mb", "1"], prefect_env)
    assert result.returncode == 0

    articles = query(warehouse, "select source_path, language from articles order by 1")
    assert [(Path(path).name, language) for path, language in articles] == [("deep.html", "en"), ("good.txt", "en"), ("russian.txt", "ru")]
    reasons = {Path(path).name: reason for path, reason in query(warehouse, "select path, reason from rejected_files")}
    assert reasons == {
        "empty.txt": "empty_file",
        "picture.txt": "binary_file",
        "noise.bin": "binary_file",
        "menu.html": "no_article",
        "huge.txt": "too_large",
        "pipe.txt": "unreadable",
        "self.txt": "unreadable",
        "passwd.txt": "outside_folder",
    }
    for (detail,) in query(warehouse, "select detail from rejected_files"):
        assert len(detail) > 20
    assert query(warehouse, "select count(*) from articles where text like '%root:%'") == [(0,)]
    assert query(warehouse, "select files_seen, inserted, rejected, status from ingest_runs") == [(11, 3, 8, "completed")]
    assert "rejected files" in result.stdout
    again = newsflow(["ingest", str(drop), "--max-file-mb", "1"], prefect_env)  # the bad entries stay: runs go on
    assert query(warehouse, "select files_seen, inserted, status from ingest_runs order by started_at desc limit 1") == [(11, 0, "completed")]
    assert again.returncode == 0


def test_sql_command_answers_in_table_csv_and_json(prefect_env, warehouse, seeds_warehouse):
    copy_of_seeds_warehouse(seeds_warehouse, warehouse)
    table = newsflow(["sql", "select language, count(*) as n from articles group by 1 order by 1"], prefect_env)
    assert "en" in table.stdout and "id" in table.stdout
    as_json = json.loads(newsflow(["sql", "select language, count(*) as n from articles group by 1 order by 1", "--format", "json"], prefect_env).stdout)
    assert as_json == [{"language": "en", "n": 4}, {"language": "id", "n": 1}]
    as_csv = newsflow(["sql", "select language, count(*) as n from articles group by 1 order by 1", "--format", "csv"], prefect_env).stdout
    assert as_csv.splitlines() == ["language,n", "en,4", "id,1"]


def test_errors_are_one_clear_line_and_a_non_zero_exit(prefect_env, warehouse, seeds_warehouse, tmp_path):
    missing = newsflow(["sql", "select 1", "--warehouse", str(tmp_path / "nope.duckdb")], prefect_env, check=False)
    assert missing.returncode != 0
    assert "newsflow ingest" in missing.stderr and "Traceback" not in missing.stderr

    copy_of_seeds_warehouse(seeds_warehouse, warehouse)
    bad_sql = newsflow(["sql", "selec nonsense"], prefect_env, check=False)
    assert bad_sql.returncode != 0 and "Traceback" not in bad_sql.stderr
    # the whole message DuckDB gives (here the line and a caret under the mistake), nothing more
    assert bad_sql.stderr.startswith('error: Parser Error: syntax error at or near "selec"')
    assert "LINE 1: selec nonsense" in bad_sql.stderr

    write = newsflow(["sql", "delete from articles"], prefect_env, check=False)
    assert write.returncode != 0 and "Traceback" not in write.stderr


def test_a_killed_run_is_marked_interrupted_by_the_next_run_which_loads_the_rest(prefect_env, warehouse, tmp_path):
    drop = tmp_path / "many"
    drop.mkdir()
    story = (SEEDS_DIR / "002_c6f1a40e5c75d036.txt").read_text(encoding="utf-8")
    for index in range(80):
        (drop / f"story_{index:02d}.txt").write_text(story.replace("unlikely", f"unlikely ({index})"), encoding="utf-8")
    command = NEWSFLOW + ["ingest", str(drop), "--batch-size", "4"]
    run = subprocess.Popen(command, env=prefect_env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def articles_so_far() -> int:
        try:
            return query(warehouse, "select count(*) from articles")[0][0]
        except (duckdb.Error, OSError):  # the run holds the file right now
            return 0

    deadline = time.monotonic() + 120
    while articles_so_far() < 8 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.kill()  # SIGKILL: no handler, no finally
    run.wait(60)
    written = articles_so_far()
    assert 0 < written < 80, "the kill must land mid-run"
    assert query(warehouse, "select status from ingest_runs") == [("running",)]

    again = newsflow(["ingest", str(drop)], prefect_env)

    assert "did not finish" in again.stdout and "interrupted" in again.stdout
    runs = query(warehouse, "select status, inserted, rejected from ingest_runs order by started_at")
    assert runs[0] == ("interrupted", written, 0)
    assert runs[1][0] == "completed" and runs[1][1] == 80 - written
    assert query(warehouse, "select count(*), count(distinct source_path) from articles") == [(80, 80)]
    assert query(warehouse, "select count(*) from paragraphs p anti join articles a using (article_id)") == [(0,)]


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_ctrl_c_or_sigterm_stops_a_run_at_once_with_one_line_and_the_run_marked_interrupted(prefect_env, warehouse, tmp_path, signum, code, name):
    drop = tmp_path / "many"
    drop.mkdir()
    story = (SEEDS_DIR / "002_c6f1a40e5c75d036.txt").read_text(encoding="utf-8")
    for index in range(60):
        (drop / f"story_{index:02d}.txt").write_text(story.replace("unlikely", f"unlikely ({index})"), encoding="utf-8")
    # One file a batch: the test sees the first articles only between two writes, and on a loaded
    # machine sixty files in batches of three were all written before a look at the file got in.
    run = subprocess.Popen(NEWSFLOW + ["ingest", str(drop), "--batch-size", "1"], env=prefect_env, cwd=PROJECT_ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        try:
            if query(warehouse, "select count(*) from articles")[0][0] >= 3:
                break
        except (duckdb.Error, OSError):
            pass
        time.sleep(0.05)

    run.send_signal(signum)
    output = run.communicate(timeout=300)[0]  # a safety net; how fast a run stops is bench.stop_bench's to measure

    assert run.returncode == code, output
    # (the test's own polling may make the run wait for the file a moment: it says so in one line)
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("Waiting up to")]
    assert lines == [f"interrupted ({name}): what was stored is kept and the run is marked interrupted; run the same command again to load the rest."]
    (status, written), = query(warehouse, "select status, inserted from ingest_runs")
    assert status == "interrupted" and 0 < written < 60
    newsflow(["ingest", str(drop)], prefect_env)
    assert query(warehouse, "select count(*), count(distinct source_path) from articles") == [(60, 60)]


def _wait_for_articles(warehouse: Path, at_least: int, run: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        try:
            if query(warehouse, "select count(*) from articles")[0][0] >= at_least:
                return
        except (duckdb.Error, OSError):
            pass
        time.sleep(0.05)


@pytest.mark.parametrize("patience", ["60", "1"])
def test_a_long_reader_during_a_run_makes_it_wait_or_stop_truthfully_never_lose_a_document(prefect_env, warehouse, tmp_path, patience):
    drop = tmp_path / "many"
    drop.mkdir()
    story = (SEEDS_DIR / "002_c6f1a40e5c75d036.txt").read_text(encoding="utf-8")
    for index in range(40):
        (drop / f"story_{index:02d}.txt").write_text(story.replace("unlikely", f"unlikely ({index})"), encoding="utf-8")
    env = dict(prefect_env, NEWSFLOW_LOCK_TIMEOUT_S=patience)
    run = subprocess.Popen(NEWSFLOW + ["ingest", str(drop), "--batch-size", "4"], env=env, cwd=PROJECT_ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for_articles(warehouse, 4, run)
    output = FollowedOutput(run.stdout)
    reader = None
    deadline = time.monotonic() + 120
    while reader is None and time.monotonic() < deadline:  # an analyst's query that holds the file ...
        try:
            reader = duckdb.connect(str(warehouse), read_only=True)
        except duckdb.Error:
            time.sleep(0.01)
    # ... until the run has said it waits for it (and, with 1 s of patience, until it gave up):
    # the events, not a fixed time, decide when the reader lets go (300 s: a safety net).
    output.wait_for_line(lambda line: line.startswith(f"Waiting up to {patience} s for PID {os.getpid()}"), 300)
    if patience == "1":
        output.wait_for_line(lambda line: line.startswith("error:"), 300)
    reader.close()
    run.wait(300)
    output = output.text()

    assert f"Waiting up to {patience} s for PID {os.getpid()}" in output
    if patience == "60":  # the run waited for the reader and finished
        assert run.returncode == 0, output
    else:  # it gave up, saying who held the file and what to do
        assert run.returncode == 1
        (error,) = [line for line in output.splitlines() if line.startswith("error:")]
        assert f"still in use by PID {os.getpid()}" in error and "NEWSFLOW_LOCK_TIMEOUT_S" in error
        assert "Traceback" not in output
        newsflow(["ingest", str(drop)], prefect_env)
    assert query(warehouse, "select count(*), count(distinct source_path) from articles") == [(40, 40)]
