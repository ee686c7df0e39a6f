"""The raw page store on disk: packing, pages of the first version, and which warehouse's tidying removes what."""

from __future__ import annotations

import hashlib
import json

from pipeline.web.documents import stored_pages
from pipeline.web.store import (
    RawPageInfo,
    apply_raw_store_cleanup,
    plan_raw_store_cleanup,
    read_raw_page,
    store_raw_page,
)

A, B = "/data/a.duckdb", "/data/b.duckdb"


def info(url: str, when: str, *warehouses: str) -> RawPageInfo:
    return RawPageInfo(url=url, fetched_url=url, content_type="text/html", charset=None, fetched_at=when, warehouses=warehouses)


def tidy(state, warehouse, needed=(), max_bytes=10**9):
    plan = plan_raw_store_cleanup(state, warehouse=warehouse, needed=set(needed), max_bytes=max_bytes)
    apply_raw_store_cleanup(plan, warehouse=warehouse)
    return plan


def test_a_page_two_warehouses_fetched_stays_until_neither_uses_it_and_another_warehouses_page_is_left_alone(tmp_path):
    state = tmp_path / "state"
    shared, _ = store_raw_page(state, b"<html>shared</html>", info("http://x/1", "2026-11-01T00:00:00", A))
    store_raw_page(state, b"<html>shared</html>", info("http://x/1", "2026-11-02T00:00:00", B))
    theirs, _ = store_raw_page(state, b"<html>b only</html>", info("http://x/2", "2026-11-01T00:00:00", B))

    plan = tidy(state, A)  # A stores no article from either
    assert plan.removed == [] and [page.path for page in plan.released] == [shared]
    assert shared.exists() and theirs.exists()
    assert [page.url for page in stored_pages(state, warehouse=A)] == []
    assert sorted(page.url for page in stored_pages(state, warehouse=B)) == ["http://x/1", "http://x/2"]

    plan = tidy(state, B, needed={hashlib.sha256(b"<html>b only</html>").hexdigest()})
    assert [page.path for page in plan.unused] == [shared] and not shared.exists() and theirs.exists()


def test_pages_of_the_first_version_are_read_tidied_and_replaced_by_their_packed_form(tmp_path):
    state = tmp_path / "state"
    body = b"<html>stored before packing</html>"
    sha = hashlib.sha256(body).hexdigest()
    plain = state / "web" / sha[:2] / f"{sha}.html"
    plain.parent.mkdir(parents=True)
    plain.write_bytes(body)
    plain.with_suffix(".json").write_text(json.dumps({"url": "http://x/old", "fetched_url": "http://x/old", "content_type": "text/html",
                                                       "charset": None, "fetched_at": "2026-11-01T00:00:00+00:00"}))
    [page] = stored_pages(state, warehouse=A)  # it names no warehouse: everyone's
    assert page.url == "http://x/old" and read_raw_page(page.raw_path) == body

    packed, _ = store_raw_page(state, body, info("http://x/old", "2026-11-02T00:00:00", A))
    assert packed.name == f"{sha}.html.gz" and not plain.exists() and read_raw_page(packed) == body
    assert len(packed.read_bytes()) != len(body)


def test_the_bound_lets_the_oldest_fetch_go_first(tmp_path):
    state = tmp_path / "state"
    bodies = [bytes(range(256)) * 40 + bytes([n]) for n in range(3)]  # barely packable: about 10 KB each
    paths = [store_raw_page(state, body, info(f"http://x/{n}", f"2026-11-0{n + 1}T00:00:00", A))[0] for n, body in enumerate(bodies)]
    needed = {hashlib.sha256(body).hexdigest() for body in bodies}
    one = paths[0].stat().st_size + (paths[0].parent / f"{paths[0].name.split('.')[0]}.json").stat().st_size
    plan = tidy(state, A, needed=needed, max_bytes=int(2.5 * one))
    assert [page.path for page in plan.evicted] == [paths[0]]
    assert [path.exists() for path in paths] == [False, True, True]
    assert "1 oldest over the" in plan.describe()
