"""The suite keeps off the checkout's seeds/, warehouse/ and .state/, where users keep their own
files (tests/conftest.py): a session that touches them fails, naming what it touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.settings import load_settings
from tests.conftest import PROJECT_ROOT

TOUCHES_SEEDS = """
from pathlib import Path

def test_writes_into_the_checkouts_seeds():
    (Path(__file__).resolve().parent.parent / "seeds" / "left-by-a-test.txt").write_text("oops")
"""

KEEPS_OFF = """
import os
from pathlib import Path

def test_writes_only_into_its_own_home():
    (Path(os.environ["NEWSFLOW_HOME"]) / "seeds").mkdir()
    (Path(os.environ["NEWSFLOW_HOME"]) / "seeds" / "fine.txt").write_text("fine")
"""


def run_suite_in(checkout: Path, test_source: str) -> subprocess.CompletedProcess:
    """pytest, with this suite's conftest, over one test file in a checkout of its own."""
    (checkout / "tests").mkdir()
    shutil.copy(PROJECT_ROOT / "tests" / "conftest.py", checkout / "tests" / "conftest.py")
    (checkout / "tests" / "test_one.py").write_text(test_source, encoding="utf-8")
    (checkout / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for name in ("seeds", "warehouse"):
        (checkout / name).mkdir()
    (checkout / "seeds" / "users-own.txt").write_text("a user's document", encoding="utf-8")
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_one.py"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_session_that_writes_into_the_checkouts_seeds_fails_naming_the_file(tmp_path):
    result = run_suite_in(tmp_path, TOUCHES_SEEDS)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed" in result.stdout  # the test itself passed: the session check failed it
    assert "touched the checkout's seeds/, warehouse/, .state/" in result.stdout and "added seeds/left-by-a-test.txt" in result.stdout


def test_a_session_that_keeps_to_its_own_home_passes(tmp_path):
    result = run_suite_in(tmp_path, KEEPS_OFF)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "touched the checkout" not in result.stdout
    assert (tmp_path / "seeds").iterdir().__next__().name == "users-own.txt"


def test_settings_point_at_a_temporary_home_not_the_checkout():
    settings = load_settings()
    for path in (settings.home, settings.seeds_dir, settings.warehouse_path, settings.state_dir):
        assert not path.resolve().is_relative_to(PROJECT_ROOT), path
