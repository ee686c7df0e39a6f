"""An article's face moves to a place still present when its own file is gone."""

from datetime import timedelta

from pipeline.warehouse import PruneResult, Warehouse
from tests.pipeline.warehouse.conftest import FACE, T0, T1, english_doc, rows


def test_when_the_face_s_file_is_gone_the_article_shows_its_latest_place_still_present(warehouse: Warehouse):
    text = "Same wire story.\n\nSecond paragraph."
    first = english_doc("seeds/a.txt", "sha-a", text).replace(source_url=None, title="The first headline")
    older_copy = english_doc("seeds/b.txt", "sha-b", text).replace(source_url=None, title="An older copy's headline")
    newest = english_doc("seeds/c.txt", "sha-c", "SAME wire  story.\n\nSecond paragraph.").replace(source_url=None, title="The newest headline")
    warehouse.write_batch([first, older_copy], run_id="r1", ingested_at=T0)  # a copy within one batch
    warehouse.write_batch([newest], run_id="r2", ingested_at=T1)  # a copy in a later batch takes the face
    assert rows(warehouse, FACE) == [("seeds/c.txt", "The newest headline", "sha-c", "SAME wire  story.\n\nSecond paragraph.")]
    assert rows(warehouse, "SELECT source_path FROM source_contents ORDER BY 1") == [("seeds/a.txt",), ("seeds/b.txt",)]

    later = T1 + timedelta(days=1)
    warehouse.write_batch([], run_id="r3", ingested_at=later, seen_paths=["seeds/a.txt"])
    assert warehouse.mark_missing(["seeds"], seen_since=later) == ["seeds/b.txt", "seeds/c.txt"]
    assert rows(warehouse, FACE) == [("seeds/a.txt", "The first headline", "sha-a", text)]  # the one still present
    assert rows(warehouse, "SELECT position, text, language FROM paragraphs ORDER BY 1") == [
        (0, "Same wire story.", "en"),
        (1, "Second paragraph.", "en"),
    ]
    assert rows(warehouse, "SELECT run_id FROM articles") == [("r1",)]  # when that content was stored
    # the gone face's content is not kept: a file that comes back is read again
    assert rows(warehouse, "SELECT source_path FROM source_contents ORDER BY 1") == [("seeds/b.txt",)]
    assert warehouse.prune() == PruneResult(articles=0, places=2, dry_run=False, faces=0)
    assert rows(warehouse, "SELECT count(*) FROM source_contents") == [(0,)]
    assert rows(warehouse, FACE) == [("seeds/a.txt", "The first headline", "sha-a", text)]


def test_a_face_moved_by_a_later_write_keeps_the_content_it_leaves_behind(warehouse: Warehouse):
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", "Story.").replace(source_url=None, title="A")], run_id="r1", ingested_at=T0)
    warehouse.write_batch([english_doc("seeds/b.txt", "sha-b", "story.").replace(source_url=None, title="B")], run_id="r2", ingested_at=T1)
    assert rows(warehouse, FACE) == [("seeds/b.txt", "B", "sha-b", "story.")]
    # a.txt changes in place: its new content becomes the face, and b.txt's is kept for it
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a2", "Story!").replace(source_url=None, title="A2")], run_id="r3", ingested_at=T1)
    assert rows(warehouse, FACE) == [("seeds/a.txt", "A2", "sha-a2", "Story!")]
    assert rows(warehouse, "SELECT source_path, title FROM source_contents") == [("seeds/b.txt", "B")]


def test_a_place_stored_without_its_content_is_read_again_when_the_face_is_gone(warehouse: Warehouse):
    """A warehouse written before source_contents: the next run reads the surviving file again."""
    text = "Same wire story."
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", text).replace(source_url=None, title="A")], run_id="r1", ingested_at=T0)
    warehouse.write_batch([english_doc("seeds/b.txt", "sha-b", text).replace(source_url=None, title="B")], run_id="r2", ingested_at=T1)
    warehouse.query("DELETE FROM source_contents")
    later = T1 + timedelta(days=1)
    warehouse.write_batch([], run_id="r3", ingested_at=later, seen_paths=["seeds/a.txt"])
    warehouse.mark_missing(["seeds"], seen_since=later)
    assert warehouse.known_fingerprints(["seeds/a.txt"]) != {"seeds/a.txt": "sha-a"}  # so the run reads it again
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", text).replace(source_url=None, title="A")], run_id="r4", ingested_at=later)
    assert rows(warehouse, FACE) == [("seeds/a.txt", "A", "sha-a", text)]


def test_a_long_copy_is_not_kept_twice_and_is_read_again_when_it_must_show_the_article(tmp_path, monkeypatch):
    """A copy of a long text kept in source_contents would need as much writer memory again (a
    7 MB copy beside its article ran a 48 MB writer out of memory): it is not kept, and becomes the
    article's face by being read again."""
    from pipeline.warehouse import faces

    monkeypatch.setattr(faces, "SOURCE_CONTENT_MAX_CHARS", 40)
    with Warehouse.open(tmp_path / "news.duckdb") as warehouse:
        long_text, short_text = "A wire story long enough not to be kept twice.", "Short."
        warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", long_text).replace(source_url=None, title="A"),
                               english_doc("seeds/b.txt", "sha-b", long_text).replace(source_url=None, title="B")], run_id="r1", ingested_at=T0)
        warehouse.write_batch([english_doc("seeds/c.txt", "sha-c", short_text).replace(source_url=None, title="C"),
                               english_doc("seeds/d.txt", "sha-d", short_text).replace(source_url=None, title="D")], run_id="r1", ingested_at=T0)
        assert rows(warehouse, "SELECT source_path FROM source_contents") == [("seeds/c.txt",)]  # only the short copy is kept
        later = T1 + timedelta(days=1)
        warehouse.write_batch([], run_id="r2", ingested_at=later, seen_paths=["seeds/a.txt", "seeds/c.txt"])
        warehouse.mark_missing(["seeds"], seen_since=later)
        assert rows(warehouse, "SELECT source_path, title FROM articles ORDER BY 1") == [("seeds/b.txt", "B"), ("seeds/c.txt", "C")]
        assert warehouse.known_fingerprints(["seeds/a.txt"]) != {"seeds/a.txt": "sha-a"}  # so the next run reads it again
        warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", long_text).replace(source_url=None, title="A")], run_id="r3", ingested_at=later)
        assert rows(warehouse, "SELECT source_path, title FROM articles ORDER BY 1") == [("seeds/a.txt", "A"), ("seeds/c.txt", "C")]
