"""Files gone from a scanned folder, and prune."""

from pipeline.warehouse import PruneResult, Warehouse
from tests.pipeline.warehouse.conftest import FACE, T0, T1, english_doc, rows


def test_places_not_seen_since_a_run_began_are_marked_gone_only_under_the_scanned_folders(warehouse: Warehouse):
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a"), english_doc("/other/b.txt", "sha-b")], run_id="r1", ingested_at=T0)
    later = T0.replace(year=T0.year + 1)
    warehouse.write_batch([], run_id="r2", ingested_at=later, seen_paths=[])
    assert warehouse.mark_missing(["seeds"], seen_since=later) == ["seeds/a.txt"]
    assert rows(warehouse, "SELECT source_path, present FROM article_sources ORDER BY 1") == [("/other/b.txt", True), ("seeds/a.txt", False)]
    assert warehouse.known_fingerprints(["seeds/a.txt", "/other/b.txt"]) == {"/other/b.txt": "sha-b"}  # a gone file is read again
    assert warehouse.prune(dry_run=True).articles == 1 and rows(warehouse, "SELECT count(*) FROM articles") == [(2,)]
    assert warehouse.prune().articles == 1
    assert rows(warehouse, "SELECT source_path FROM articles") == [("/other/b.txt",)]


def test_prune_gives_an_article_whose_face_is_gone_the_content_of_a_place_still_present(warehouse: Warehouse):
    text = "Same wire story."
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", text).replace(source_url=None, title="A")], run_id="r1", ingested_at=T0)
    warehouse.write_batch([english_doc("seeds/b.txt", "sha-b", text).replace(source_url=None, title="B")], run_id="r2", ingested_at=T1)
    warehouse.query("UPDATE article_sources SET present = false WHERE source_path = 'seeds/b.txt'")  # as an older run marked it
    assert warehouse.prune(dry_run=True) == PruneResult(articles=0, places=1, dry_run=True, faces=0)
    assert rows(warehouse, FACE)[0][:2] == ("seeds/b.txt", "B")
    assert warehouse.prune() == PruneResult(articles=0, places=1, dry_run=False, faces=1)
    assert rows(warehouse, FACE) == [("seeds/a.txt", "A", "sha-a", text)]
