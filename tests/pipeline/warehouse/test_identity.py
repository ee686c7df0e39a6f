"""Article identity: one article for a document seen under several paths or one page address."""

from pipeline.warehouse import BatchCounts, Warehouse
from pipeline.warehouse.documents import article_id_for
from tests.pipeline.warehouse.conftest import T0, english_doc, rows


def test_article_id_is_stable_and_distinct():
    assert article_id_for("seeds/a.txt") == article_id_for("seeds/a.txt")
    assert article_id_for("seeds/a.txt") != article_id_for("seeds/b.txt")
    assert len(article_id_for("seeds/a.txt")) == 16


def test_copies_in_one_batch_and_later_batches_are_one_article_with_every_place(warehouse: Warehouse):
    text = "Same wire story.\n\nSecond paragraph."
    first = english_doc("seeds/a.txt", "sha-1", text)
    copy = english_doc("/elsewhere/a copy.txt", "sha-1", text).replace(source_url=None)
    respaced = english_doc("seeds/b.txt", "sha-2", "Same   wire story.\n\n\nSECOND paragraph.").replace(source_url=None)
    counts = warehouse.write_batch([first, copy], run_id="r1", ingested_at=T0)
    assert counts == BatchCounts(inserted=1, unchanged=1, joined=1, joined_this_run=1)
    counts = warehouse.write_batch([respaced], run_id="r2", ingested_at=T0)
    assert counts == BatchCounts(updated=1, joined=1)  # other bytes, same text: the newest copy's content
    assert rows(warehouse, "SELECT count(*), min(source_path) FROM articles") == [(1, "seeds/b.txt")]
    assert rows(warehouse, "SELECT source_path FROM article_sources ORDER BY 1") == [("/elsewhere/a copy.txt",), ("seeds/a.txt",), ("seeds/b.txt",)]


def test_a_copy_joining_an_article_an_earlier_batch_of_the_same_run_stored_is_counted_apart(warehouse: Warehouse):
    text = "Same wire story.\n\nSecond paragraph."
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-1", text)], run_id="r1", ingested_at=T0)
    copy = english_doc("seeds/copy.txt", "sha-1", text).replace(source_url=None)
    assert warehouse.write_batch([copy], run_id="r1", ingested_at=T0) == BatchCounts(unchanged=1, joined=1, joined_this_run=1)
    again = english_doc("seeds/again.txt", "sha-1", text).replace(source_url=None)
    assert warehouse.write_batch([again], run_id="r2", ingested_at=T0) == BatchCounts(unchanged=1, joined=1), "stored by an earlier run"


def test_the_same_page_address_is_one_article_but_a_site_home_page_is_not(warehouse: Warehouse):
    old = english_doc("seeds/v1.html", "sha-1", "The first version.").replace(source_url="https://news.example/2025/10/story")
    new = english_doc("seeds/v2.html", "sha-2", "The corrected version.").replace(source_url="https://news.example/2025/10/story")
    warehouse.write_batch([old], run_id="r1", ingested_at=T0)
    assert warehouse.write_batch([new], run_id="r2", ingested_at=T0) == BatchCounts(updated=1, joined=1)
    assert rows(warehouse, "SELECT text FROM articles") == [("The corrected version.",)]
    home = [english_doc(f"seeds/h{i}.html", f"sha-h{i}", f"Story {i}.").replace(source_url="https://news.example/") for i in range(2)]
    assert warehouse.write_batch(home, run_id="r3", ingested_at=T0).inserted == 2
