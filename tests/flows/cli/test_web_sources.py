"""`newsflow sources add` on a source already followed changes only what it is given, and says what
changed (run as a user runs it: a subprocess)."""

from __future__ import annotations

import os

import duckdb

from tests.conftest import newsflow

FEED = "http://127.0.0.2/feed.xml"  # never fetched: --kind is given, or the source is known already


def test_adding_a_followed_source_again_keeps_its_settings_and_says_what_changed(tmp_path):
    warehouse = tmp_path / "news.duckdb"
    env = dict(os.environ, NEWSFLOW_HOME=str(tmp_path / "home"), NEWSFLOW_WAREHOUSE=str(warehouse))

    first = newsflow(["sources", "add", FEED, "--kind", "feed", "--every", "2h", "--language", "id"], env=env)
    assert first.stdout.startswith(f"Following {FEED} (feed, polled at most every 2h, language id)")

    again = newsflow(["sources", "add", FEED], env=env)  # known: nothing is fetched to tell its kind
    assert again.stdout.strip() == (
        f"Already following {FEED} (feed, polled at most every 2h, language id): nothing changed; --every, --kind or --language change it."
    )

    changed = newsflow(["sources", "add", FEED, "--every", "1d"], env=env)
    assert changed.stdout.strip() == f"Already following {FEED}: now polled at most every 1d (was 2h); kept: kind feed, language id."

    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select kind, every_seconds, language from web_sources").fetchall() == [("feed", 86400, "id")]
