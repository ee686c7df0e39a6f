"""`newsflow ingest` and `newsflow reextract` say what they did: each summary headed by its own
command, a file that joined an article stored in the same run counted apart from the unchanged
ones, and plurals right."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import SEEDS_DIR, newsflow


def counts_row(stdout: str) -> dict[str, int]:
    """The summary's counts table, as {column: number}."""
    lines = stdout.splitlines()
    (at,) = [i for i, line in enumerate(lines) if "files seen" in line]
    header = [cell.strip() for cell in lines[at].split("┃")]
    values = [cell.strip() for cell in lines[at + 2].split("│")]
    return dict(zip(header, map(int, values)))


@pytest.mark.server
def test_a_copy_in_a_fresh_warehouse_joined_an_article_stored_in_this_run_it_is_not_unchanged(prefect_env, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    seed = sorted(SEEDS_DIR.glob("*.txt"))[0]
    shutil.copy(seed, folder / "story.txt")
    shutil.copy(seed, folder / "the same story.txt")

    result = newsflow(["ingest", str(folder), "--warehouse", str(tmp_path / "news.duckdb")], env=prefect_env)

    assert f"newsflow ingest — {tmp_path / 'news.duckdb'}" in result.stdout
    assert counts_row(result.stdout) == {"files seen": 2, "inserted": 1, "updated": 0, "joined this run": 1, "unchanged": 0, "rejected": 0}
    assert "1 file joined an article already stored under another path: 1 stored in this run (same page address" in result.stdout


@pytest.mark.server
def test_reextract_is_headed_by_its_own_name(prefect_env, tmp_path):
    result = newsflow(["reextract", "--warehouse", str(tmp_path / "news.duckdb")], env=prefect_env)
    assert f"newsflow reextract — {tmp_path / 'news.duckdb'}" in result.stdout
    assert "newsflow ingest" not in result.stdout


@pytest.mark.parametrize(("known", "said"), [
    (1, "1 article page listed by web sources is stored already: not fetched again (--refresh fetches it)"),
    (3, "3 article pages listed by web sources are stored already: not fetched again (--refresh fetches them)"),
])
def test_the_summary_counts_in_the_right_number(known, said, capsys):
    from flows.cli.ingesting import _print_summary
    from flows.ingest_summary import IngestSummary

    _print_summary("ingest", IngestSummary(run_id="r", warehouse="news.duckdb", web_skipped_known=known), "a server", 0.0, 1.0)
    assert said in capsys.readouterr().out
