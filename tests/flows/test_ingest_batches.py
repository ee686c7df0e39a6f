"""How a run's files are cut into batches: full batches, then the end shared among the workers."""

from __future__ import annotations

import pytest

from flows.ingest import batches_of


@pytest.mark.parametrize(
    ("items", "size", "workers", "sizes"),
    [
        (600, 128, 1, [128, 128, 128, 108, 108]),  # the last full batch and the rest, evened out
        (600, 128, 2, [128, 128, 128, 108, 108]),
        (512, 128, 2, [128, 128, 128, 64, 64]),  # the last batch alone would keep one worker busy
        (512, 128, 4, [128, 128, 128, 32, 32, 32, 32]),
        (100, 128, 2, [50, 50]),  # a run smaller than a batch still uses both workers
        (3, 128, 4, [1, 1, 1]),
        (0, 128, 2, []),
    ],
)
def test_the_end_of_a_run_is_shared_among_the_workers(items, size, workers, sizes):
    batches = list(batches_of(iter(range(items)), size, last_parts=workers))
    assert [len(batch) for batch in batches] == sizes
    assert [item for batch in batches for item in batch] == list(range(items)), "every item once, in order"
