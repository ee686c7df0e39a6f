"""The read-only front door, as an analyst uses it: `newsflow sql`, `newsflow export` and the DuckDB shell.

One warehouse is written by the real `newsflow ingest` of seeds/ (on the session's Prefect server)
and shared by the module; every test only reads it, and checks it is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import NEWSFLOW, PROJECT_ROOT, copy_of_seeds_warehouse, newsflow, newsflow_env
from tests.flows.processes import processes_in_group, wait_until_main_thread, with_stack_dumps

pytestmark = pytest.mark.server

QUERIES_SQL = PROJECT_ROOT / "warehouse" / "queries.sql"


def count(database: Path, sql: str) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the sha256 of its bytes: what a probe must not change."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shop(prefect_server, seeds_warehouse, tmp_path_factory):
    """A warehouse written by the real ingest, another DuckDB database beside it, a CSV file, an env."""
    root = tmp_path_factory.mktemp("front-door")
    home = root / "home"
    home.mkdir()
    env = newsflow_env(
        prefect_server.api_url,
        root,
        HOME=str(home),  # where DuckDB would install extensions: must stay empty
        NEWSFLOW_WAREHOUSE=str(root / "data-dir" / "news.duckdb"),
    )
    warehouse = copy_of_seeds_warehouse(seeds_warehouse, Path(env["NEWSFLOW_WAREHOUSE"]))  # the seeds' real ingest
    other = root / "data-dir" / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("create table t as select range as id from range(307)")
    (root / "data-dir" / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return {"env": env, "warehouse": warehouse, "other": other, "dir": warehouse.parent, "home": home, "root": root}


def test_the_shared_warehouse_holds_the_seeds(shop):
    assert count(shop["warehouse"], "select count(*) from articles") == 5


# --- read-only for real ---------------------------------------------------------------------

PROBES = {
    "copy to a file": "COPY articles TO '{dir}/x.csv'",
    "copy over another database": "COPY (select 1) TO '{other}' (FORMAT csv)",
    "copy over the warehouse itself": "COPY articles TO '{warehouse}' (FORMAT csv, USE_TMP_FILE false)",
    "explain analyze of a copy": "EXPLAIN ANALYZE COPY articles TO '{warehouse}.wal' (FORMAT csv)",
    "attach another database and delete": "ATTACH '{other}' AS other (READ_ONLY false); DELETE FROM other.t",
    "read an arbitrary file": "select * from read_text('/etc/passwd')",
    "read_csv of a csv": "select * from read_csv('{dir}/notes.csv')",
    "read_csv of the warehouse file": "select * from read_blob('{warehouse}')",
    "a file path as a table": "select * from '{dir}/notes.csv'",
    "install an extension": "INSTALL httpfs",
    "load an extension": "LOAD httpfs",
    "turn file access back on": "SET enable_external_access=true",
    "unlock the configuration": "SET lock_configuration=false",
    "reset a setting": "RESET enable_external_access",
    "change another setting": "SET memory_limit='1GB'",
    "a pragma that changes settings": "PRAGMA enable_profiling",
    "log to files": "select * from enable_logging(storage='file', storage_path='{dir}')",
    "sql from a string": "select * from query('select 1')",
    "create a table": "CREATE TABLE extra (a int)",
    "create a temp table": "CREATE TEMP TABLE extra AS SELECT 1",
    "insert": "INSERT INTO ingest_runs (run_id, started_at, status) VALUES ('x', now(), 'running')",
    "update": "UPDATE articles SET title = 'x'",
    "export the database": "EXPORT DATABASE '{dir}/dump'",
    "a harmless query before a copy": "select 1; COPY articles TO '{dir}/y.csv'",
}


@pytest.mark.parametrize("probe", list(PROBES), ids=list(PROBES))
def test_the_front_door_refuses_every_write_read_or_escape_and_leaves_no_trace(shop, probe):
    before = fingerprint(shop["root"] / "data-dir")
    sql = PROBES[probe].format(dir=shop["dir"], other=shop["other"], warehouse=shop["warehouse"])
    result = newsflow(["sql", sql], shop["env"], check=False)
    assert result.returncode == 1, result.stdout
    assert result.stdout == "", "nothing runs when any statement is refused"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refused"), result.stderr
    assert "Traceback" not in result.stderr
    assert fingerprint(shop["root"] / "data-dir") == before, "a file was written, changed or removed"
    assert list(shop["home"].iterdir()) == [], "nothing is installed under HOME"
    assert count(shop["other"], "select count(*) from t") == 307
    assert count(shop["warehouse"], "select count(*) from articles") == 5


def test_copy_names_the_export_command(shop):
    result = newsflow(["sql", f"COPY articles TO '{shop['dir']}/x.csv'"], shop["env"], check=False)
    assert "newsflow export" in result.stderr


# --- the way analysts paste SQL -------------------------------------------------------------


def test_every_table_and_view_can_be_queried(shop):
    with duckdb.connect(str(shop["warehouse"]), read_only=True) as con:
        relations = [r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main' union select view_name from duckdb_views() where not internal and schema_name = 'main'").fetchall()]
        expected = {name: con.execute(f'select count(*) from "{name}"').fetchone()[0] for name in relations}
    assert {"articles", "paragraphs", "rejected_files", "ingest_runs", "translation_cache"} <= set(expected)
    sql = "; ".join(f"select count(*) as n from \"{name}\"" for name in expected)
    result = newsflow(["sql", sql, "--format", "json"], shop["env"])
    assert [rows[0]["n"] for rows in json.loads(result.stdout)] == list(expected.values())


def test_queries_sql_runs_from_a_file_and_from_standard_input(shop):
    statements = len(duckdb.extract_statements(QUERIES_SQL.read_text(encoding="utf-8")))
    assert statements == 8
    from_file = newsflow(["sql", "--file", str(QUERIES_SQL)], shop["env"])
    for number in range(1, statements + 1):
        assert f"statement {number} of {statements}" in from_file.stdout
    assert "Articles per language" in from_file.stdout, "each result is headed by its statement's first line"
    piped = newsflow(["sql"], shop["env"], input_text=QUERIES_SQL.read_text(encoding="utf-8"))
    dash = newsflow(["sql", "-"], shop["env"], input_text=QUERIES_SQL.read_text(encoding="utf-8"))
    assert piped.stdout == dash.stdout == from_file.stdout

    as_json = json.loads(newsflow(["sql", "--file", str(QUERIES_SQL), "--format", "json"], shop["env"]).stdout)
    assert len(as_json) == statements
    assert sorted((row["language"], row["articles"]) for row in as_json[0]) == [("en", 4), ("id", 1)]
    assert len(as_json[-1]) == 1 and as_json[-1][0]["status"] == "completed"
    assert len(as_json[1]) == 5  # search_articles: "Pyongyang" is in all five seeds


def test_a_query_that_starts_with_a_comment_and_several_statements(shop):
    sql = "-- how many?\nselect count(*) as n from articles;\n/* and by language */ select language, count(*) as n from articles group by 1 order by 1"
    table = newsflow(["sql", sql], shop["env"]).stdout
    assert "statement 1 of 2: -- how many?" in table and "statement 2 of 2: /* and by language */" in table
    assert json.loads(newsflow(["sql", sql, "--format", "json"], shop["env"]).stdout) == [
        [{"n": 5}],
        [{"language": "en", "n": 4}, {"language": "id", "n": 1}],
    ]
    csv_out = subprocess.run(NEWSFLOW + ["sql", sql, "--format", "csv"], env=shop["env"], cwd=PROJECT_ROOT, capture_output=True, timeout=120).stdout
    assert b"\r" not in csv_out
    assert csv_out == b"n\n5\n\nlanguage,n\nen,4\nid,1\n"


def test_one_statement_as_json_is_a_list_of_rows(shop):
    rows = json.loads(newsflow(["sql", "select source_path, published_at from articles order by 1 limit 2", "-f", "json"], shop["env"]).stdout)
    assert [set(row) for row in rows] == [{"source_path", "published_at"}] * 2


def test_a_mistyped_table_shows_duckdbs_suggestion(shop):
    result = newsflow(["sql", "select * from artcles"], shop["env"], check=False)
    assert result.returncode == 1
    assert 'Did you mean "articles"?' in result.stderr
    assert "Traceback" not in result.stderr


def test_only_comments_is_an_error_not_an_empty_result(shop):
    result = newsflow(["sql", "-- nothing here\n/* or here */"], shop["env"], check=False)
    assert result.returncode == 1 and "no SQL statement" in result.stderr


# --- export ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, reader",
    [
        ("articles.parquet", "read_parquet"),
        ("articles.csv", "read_csv"),
        ("articles.json", "read_json"),
        ("articles.jsonl", "read_json"),
    ],
)
def test_export_a_table_round_trips(shop, tmp_path, name, reader):
    target = tmp_path / "out" / name
    before = fingerprint(shop["dir"])
    result = newsflow(["export", "articles", "--to", str(target)], shop["env"])
    assert "exported 5 rows" in result.stdout
    with duckdb.connect() as con:
        rows, indonesian = con.execute(
            f"select count(*), max(CASE WHEN language = 'id' THEN source_path END) from {reader}('{target}')"
        ).fetchone()
    assert rows == 5
    assert indonesian == "seeds/004_2d2b0ea8dc19c5b8.txt"
    if name.endswith(".csv"):
        assert b"\r\n" not in target.read_bytes()
    if name.endswith(".json"):
        assert isinstance(json.loads(target.read_text(encoding="utf-8")), list)
    assert sorted(p.name for p in target.parent.iterdir()) == [name], "no partial file is left beside it"
    assert fingerprint(shop["dir"]) == before


def test_export_a_query_result_with_a_format_override(shop, tmp_path):
    target = tmp_path / "by-language.data"
    newsflow(
        ["export", "--query", "-- per language\nselect language, count(*) as n from articles group by 1", "--to", str(target), "--format", "csv"],
        shop["env"],
    )
    with duckdb.connect() as con:
        assert sorted(con.execute(f"select * from read_csv('{target}', header = true)").fetchall()) == [("en", 4), ("id", 1)]


def test_export_refuses_to_overwrite_the_warehouse_or_another_database(shop, tmp_path):
    before = fingerprint(shop["dir"])
    for target, says in [(shop["warehouse"], "the warehouse itself"), (shop["other"], "DuckDB database")]:
        result = newsflow(["export", "articles", "--to", str(target), "--format", "csv"], shop["env"], check=False)
        assert result.returncode == 1 and says in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    refused = newsflow(["export", "--query", f"COPY articles TO '{tmp_path}/x.csv'", "--to", str(tmp_path / "y.csv")], shop["env"], check=False)
    assert refused.returncode == 1 and "refused" in refused.stderr
    assert list(tmp_path.iterdir()) == []
    assert fingerprint(shop["dir"]) == before
    assert count(shop["other"], "select count(*) from t") == 307


# --- the DuckDB shell ------------------------------------------------------------------------


def test_the_duckdb_shell_in_the_venv_opens_the_warehouse(shop):
    shell = Path(sys.executable).parent / "duckdb"
    assert shell.is_file(), "requirements.lock installs duckdb-cli into the venv"
    version = subprocess.run([str(shell), "--version"], capture_output=True, text=True, timeout=60).stdout
    assert version.startswith(f"v{duckdb.__version__}"), f"shell {version!r} vs duckdb {duckdb.__version__}"
    result = subprocess.run(
        [str(shell), str(shop["warehouse"]), "-c", "select count(*) as n from articles"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert any(line.strip(" │|") == "5" for line in result.stdout.splitlines()), result.stdout


# --- a deadline, a memory cap, and Ctrl-C ---------------------------------------------------

# Hours of counting (DuckDB does not shortcut it): what only a deadline or a stop ends.
ENDLESS_QUERY = "select count(*) from range(1000000000000)"


def test_a_query_past_its_deadline_is_stopped_with_the_setting_to_raise(shop):
    result = subprocess.run(
        NEWSFLOW + ["sql", ENDLESS_QUERY], env={**shop["env"], "NEWSFLOW_SQL_TIMEOUT_S": "1"}, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: the query ran for 1 s, the longest newsflow lets a query run (NEWSFLOW_SQL_TIMEOUT_S=1), and was stopped: "
        "narrow it (a WHERE, a LIMIT), or set NEWSFLOW_SQL_TIMEOUT_S higher (such as 600) and run it again."
    ]


def test_an_export_past_the_deadline_is_stopped_and_leaves_no_file(shop, tmp_path):
    target = tmp_path / "counted.parquet"
    result = subprocess.run(
        NEWSFLOW + ["export", "--query", ENDLESS_QUERY, "--to", str(target)], env={**shop["env"], "NEWSFLOW_SQL_TIMEOUT_S": "1"},
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1 and "NEWSFLOW_SQL_TIMEOUT_S=1" in result.stderr and len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_query_that_needs_more_memory_than_the_cap_fails_with_the_setting_to_raise(shop):
    # a list of 50 million numbers (about 400 MB) cannot spill to disk
    result = newsflow(["sql", "select len(list(i)) from range(50000000) t(i)"], {**shop["env"], "NEWSFLOW_SQL_MEMORY_LIMIT": "64MB"}, check=False)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the query needed more memory than newsflow lets a query use (NEWSFLOW_SQL_MEMORY_LIMIT=64MB; DuckDB: ")
    assert line.endswith("or set NEWSFLOW_SQL_MEMORY_LIMIT higher (such as 4GB) and run it again.")
    # within the cap, the same kind of query runs
    assert newsflow(["sql", "select len(list(i)) from range(1000) t(i)", "--format", "csv"], {**shop["env"], "NEWSFLOW_SQL_MEMORY_LIMIT": "64MB"}).stdout == "len(list(i))\n1000\n"


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("name", "signum", "code", "started_as"),
    [
        ("Ctrl-C", signal.SIGINT, 130, None),
        ("SIGTERM", signal.SIGTERM, 143, None),
        # a background job of a non-interactive shell starts with SIGINT ignored
        ("Ctrl-C", signal.SIGINT, 130, ignore_sigint),
    ],
    ids=["Ctrl-C", "SIGTERM", "Ctrl-C to a background job"],
)
def test_ctrl_c_or_sigterm_stops_a_long_query_at_once(shop, tmp_path, name, signum, code, started_as):
    stacks = tmp_path / "stacks"
    process = subprocess.Popen(
        NEWSFLOW + ["sql", ENDLESS_QUERY], env=with_stack_dumps(shop["env"], stacks), cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=started_as,
    )
    try:
        def running_the_query(frames) -> bool:  # the main thread runs the statement, or waits for it
            return any(function in ("run_statement", "run") and Path(file).name in ("warehouse.py", "front_door.py") for file, _, function in frames)

        assert wait_until_main_thread(process.pid, stacks, running_the_query), process.communicate()
        if name == "Ctrl-C":
            os.killpg(process.pid, signum)  # as a terminal sends it
        else:
            process.send_signal(signum)
        # the query would count for hours: ending at all is ending at once
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == code, stderr
    assert stderr.splitlines() == [f"interrupted ({name}): the query was stopped."] and stdout == ""
    assert processes_in_group(process.pid) == set()
