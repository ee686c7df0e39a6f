import time

from flows.watch import ChangeCollector, SeedsWatcher, snapshot_folder


def test_a_burst_of_files_makes_one_batch_once_the_folder_is_quiet():
    collector = ChangeCollector(settle_seconds=2.0)
    burst = {f"/seeds/{i}.txt": (100, i) for i in range(100)}
    assert collector.observe(burst, now=0.0) == []
    assert collector.observe(burst, now=1.0) == []
    batch = collector.observe(burst, now=2.5)
    assert len(batch) == 100
    assert collector.observe(burst, now=10.0) == []  # nothing new, nothing again


def test_a_file_still_being_written_waits_until_it_stops_growing():
    collector = ChangeCollector(settle_seconds=2.0)
    assert collector.observe({"/s/a.txt": (10, 1)}, now=0.0) == []
    assert collector.observe({"/s/a.txt": (20, 2)}, now=1.5) == []
    assert collector.observe({"/s/a.txt": (30, 3)}, now=3.0) == []
    assert collector.observe({"/s/a.txt": (30, 3)}, now=4.0) == []
    assert collector.observe({"/s/a.txt": (30, 3)}, now=5.1) == ["/s/a.txt"]


def test_a_changed_file_is_reported_again_and_a_vanished_one_is_dropped():
    collector = ChangeCollector(settle_seconds=1.0, known={"/s/a.txt": (1, 1)})
    assert collector.observe({"/s/a.txt": (1, 1)}, now=0.0) == []
    collector.observe({"/s/a.txt": (2, 2), "/s/b.txt": (5, 5)}, now=1.0)
    assert collector.observe({"/s/a.txt": (2, 2)}, now=2.5) == ["/s/a.txt"]


def test_a_steady_stream_is_still_ingested_after_max_wait():
    collector = ChangeCollector(settle_seconds=2.0, max_wait_seconds=10.0)
    snapshot = {}
    emitted = []
    for second in range(0, 14):
        snapshot[f"/s/{second}.txt"] = (1, second)
        emitted += collector.observe(dict(snapshot), now=float(second))
    assert "/s/0.txt" in emitted and "/s/13.txt" not in emitted


def test_watcher_thread_reports_new_files_but_not_existing_ones(tmp_path):
    (tmp_path / "old.txt").write_text("already here")
    batches = []
    watcher = SeedsWatcher(tmp_path, batches.append, poll_seconds=0.05, settle_seconds=0.3).start()
    try:
        (tmp_path / "new.txt").write_text("a new story")
        (tmp_path / ".hidden.txt").write_text("editor state")
        (tmp_path / "partial.txt.part").write_text("downloading")
        deadline = time.monotonic() + 60
        while not batches and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stop()
    assert batches == [[str(tmp_path / "new.txt")]]
    assert set(snapshot_folder(tmp_path)) == {str(tmp_path / "old.txt"), str(tmp_path / "new.txt")}


def test_files_whose_run_could_not_be_started_are_reported_again(tmp_path):
    attempts = []

    def start_run(paths):
        attempts.append(paths)
        if len(attempts) == 1:
            raise ConnectionError("Prefect API unreachable")

    watcher = SeedsWatcher(tmp_path, start_run, poll_seconds=0.05, settle_seconds=0.2).start()
    try:
        (tmp_path / "new.txt").write_text("a new story")
        deadline = time.monotonic() + 60
        while len(attempts) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stop()
    assert attempts == [[str(tmp_path / "new.txt")]] * 2
    assert [str(error) for error in watcher.errors] == ["Prefect API unreachable"]
