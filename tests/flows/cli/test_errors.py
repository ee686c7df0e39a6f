"""Every way a `newsflow` command can be given a bad value ends in one sentence that names the value
and says what to do (flows/cli/errors.py), run as a user runs it (a subprocess)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import newsflow

# What a message made for a person never shows: Python's reprs, tracebacks, pydantic's prefixes.
NOT_FOR_PEOPLE = ("{'", "[Errno", "Traceback", "Value error,", "<class", "Input should be")

# (command, option, bad value): the walk over every command's options. `FILE` is a plain file in the
# test's folder, `MISSING` a path whose folder does not exist.
BAD_VALUES = [
    ("ingest", "--max-file-mb", "abc"),
    ("ingest", "--max-file-mb", "-5"),
    ("ingest", "--batch-size", "many"),
    ("ingest", "--batch-size", "0"),
    ("ingest", "--workers", "0"),
    ("ingest", "--bogus", "--bogus"),
    ("ingest", "PATHS", "MISSING/seeds"),
    ("sql", "--format", "xml"),
    ("sql", "--file", "MISSING/queries.sql"),
    ("sql", "--warehouse", "FILE"),
    ("sql", "QUERY", "selec nonsense"),
    ("sql", "QUERY", "select * from no_such_table"),
    ("export", "--format", "xml"),
    ("export", "--csv-formulas", "maybe"),
    ("export", "--output", "FILE/sub.csv"),
    ("export", "--where", "no_such_column = 1"),
    ("export", "--query", "selec nonsense"),
    ("export", "TABLE", "no_such_table"),
    ("search", "--since", "2025-13-01"),
    ("search", "--limit", "0"),
    ("search", "--limit", "many"),
    ("search", "--format", "xml"),
    ("search", "--warehouse", "FILE"),
    ("duplicates", "--format", "xml"),
    ("duplicates", "--min-similarity", "2"),
    ("duplicates", "--min-similarity", "high"),
    ("translate", "--bogus", "--bogus"),
    ("detect", "--format", "xml"),
    ("detect", "--file", "MISSING/text.txt"),
    ("reextract", "--bogus", "--bogus"),
    ("prune", "--warehouse", "MISSING/news.duckdb"),
    ("status", "--bogus", "--bogus"),
    ("report", "--output", "FILE/report.html"),
    ("models install", "--file", "MISSING/pkg.argosmodel"),
    ("models install", "--index-url", "MISSING/index"),
    ("sources add", "--every", "often"),
    ("sources add", "--kind", "xml"),
    ("sources remove", "URL", "http://127.0.0.1:9/never-followed"),
    ("server", "--port", "http"),
    ("server", "--start-timeout", "soon"),
    ("serve", "--every", "often"),
    ("serve", "--cron", "* * *"),
    ("serve", "--name", "Bad Name"),
    ("serve", "--settle-seconds", "soon"),
    ("serve", "--workers", "0"),
    ("deploy", "--every", "often"),
    ("deploy", "--name", "Bad Name"),
    ("deploy", "--job-variables", "{volumes"),
    ("deploy", "--job-variables", "[1, 2]"),
    ("eval", "--devdata", "MISSING/devdata"),
    ("nonsense", "COMMAND", "nonsense"),
]
# What a command needs besides the bad value, so that the bad value is what it trips over.
OTHER_ARGUMENTS = {"models install": ["id"], "search": ["kim"], "sql": ["select 1"], "detect": ["hello"], "sources add": ["http://127.0.0.1:9/feed.xml"], "deploy": ["--pool", "newsflow"]}


@pytest.fixture(scope="module")
def walk_env(tmp_path_factory):
    from pipeline.warehouse import Warehouse

    root = tmp_path_factory.mktemp("walk")
    with Warehouse.open(root / "news.duckdb"):
        pass  # an empty warehouse: the commands that read one get as far as the bad value
    (root / "FILE").write_text("not a folder, not a database\n")
    env = dict(os.environ)
    env.update({
        "NEWSFLOW_HOME": str(root / "home"),
        "NEWSFLOW_WAREHOUSE": str(root / "news.duckdb"),
        "ARGOS_PACKAGES_DIR": str(root / "argos-packages"),
        "ARGOS_PACKAGE_INDEX": "http://127.0.0.1:9/",  # a closed port: offline
        "PREFECT_API_URL": "http://127.0.0.1:9/api",  # nothing answers: no command here may get as far as Prefect
    })
    return root, env


def command_line(command: str, option: str, value: str) -> list[str]:
    """`newsflow COMMAND ...` with `value` for `option` (an upper-case option is an argument)."""
    if option.isupper():
        return ([] if command == "nonsense" else command.split()) + [value]
    given = [option] if option == value else [option, value]  # an option that does not exist
    other = [] if option == "--file" else OTHER_ARGUMENTS.get(command, [])  # --file is instead of the text argument
    return command.split() + other + given


@pytest.mark.parametrize(("command", "option", "value"), BAD_VALUES, ids=[f"{c} {o} {v}" for c, o, v in BAD_VALUES])
def test_a_bad_value_ends_in_one_sentence_naming_it(walk_env, command, option, value):
    root, env = walk_env
    value = value.replace("FILE", str(root / "FILE")).replace("MISSING", str(root / "missing"))
    result = newsflow(command_line(command, option, value), env=env, check=False, cwd=root, timeout=120)

    output = (result.stdout + result.stderr).strip()
    lines = output.splitlines()
    assert result.returncode != 0, output
    assert 1 <= len(lines) <= 2, output
    assert value in output, f"the message names the bad value {value!r}: {output}"
    assert not any(marker in output for marker in NOT_FOR_PEOPLE), output
    assert len(lines[0]) > len(f"error: {value}") + 15, f"more than the bare value: {output}"
    assert not (root / "missing").exists(), "a bad value creates nothing"


def error_of(args: list[str], walk_env) -> str:
    root, env = walk_env
    result = newsflow(args, env=env, check=False, cwd=root)
    assert result.returncode != 0 and result.stdout == "", result.stdout
    (line,) = result.stderr.strip().splitlines()
    return line


def test_an_unknown_export_format_is_named_with_the_formats_there_are(walk_env):
    line = error_of(["export", "--format", "xml"], walk_env)
    assert "'xml'" in line and "parquet, csv, json, jsonl" in line
    assert not (walk_env[0] / "articles.xml").exists()


def test_a_day_that_is_not_a_date_says_how_to_write_one(walk_env):
    line = error_of(["search", "kim", "--since", "2025-13-01"], walk_env)
    assert line == "error: --since 2025-13-01 is not a date: give it as YYYY-MM-DD, e.g. 2025-01-31"


def test_an_export_under_a_file_says_the_file_is_in_the_way(walk_env):
    root, _ = walk_env
    line = error_of(["export", "--output", "FILE/sub.csv"], walk_env)
    assert line == "error: FILE/sub.csv cannot be written: FILE is a file, not a folder; choose another path, or move that file"
    assert (root / "FILE").is_file()


def test_a_query_nested_too_deep_suggests_what_the_front_door_allows(walk_env):
    chain = "+".join(["1"] * 3000)  # DuckDB parses a chain of + as nested expressions
    line = error_of(["sql", f"select {chain}"], walk_env)
    assert "limit of 1000" in line and "flatter" in line
    assert "SET" not in line, "the front door refuses SET: never suggest it"
    assert "SET" in error_of(["sql", "SET max_expression_depth TO 5000"], walk_env), "the front door does refuse it"


def test_an_error_from_inside_newsflow_says_so_and_how_to_see_more():
    from flows.cli.errors import error_sentence

    message = error_sentence(KeyError("xml"))
    assert message.startswith("newsflow stopped on an internal error (KeyError: 'xml')") and "--verbose" in message


def test_file_system_errors_name_the_path_without_errno():
    import errno

    from flows.cli.errors import error_sentence

    in_the_way = error_sentence(FileExistsError(errno.EEXIST, "File exists", "out/report"))
    assert in_the_way.startswith("a file is in the way of out/report") and "[Errno" not in in_the_way
    assert error_sentence(PermissionError(errno.EACCES, "Permission denied", "/srv/x")).startswith("no permission for /srv/x")
