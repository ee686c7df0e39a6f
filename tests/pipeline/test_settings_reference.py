"""The configuration reference (docs/configuration.md) against the code: every NEWSFLOW_* variable
the code names is in pipeline.settings.REFERENCE, every entry there is named by the code, and the
page holds exactly the table `python -m pipeline.settings --markdown` prints."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from pipeline import settings
from tests.conftest import PROJECT_ROOT

NAME = re.compile(r"\bNEWSFLOW_[A-Z0-9_]*[A-Z0-9]\b")
# The code that runs for users; workbench/ (evaluation, training) reads NEWSFLOW_DEVDATA.
CODE_FOLDERS = ("pipeline", "flows", "workbench")


def _registry_lines(tree: ast.Module) -> range:
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and "REFERENCE" in ast.unparse(node).split("=")[0]:
            return range(node.lineno, node.end_lineno + 1)
    return range(0)


def names_in_code(root: Path = PROJECT_ROOT) -> dict[str, list[str]]:
    """NEWSFLOW_* names in the string literals of the code (docstrings and messages included), with
    where each appears; the registry's own entries do not count as code reading a variable."""
    found: dict[str, list[str]] = {}
    for folder in CODE_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            skip = _registry_lines(tree) if path == root / "pipeline" / "settings.py" else range(0)
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.lineno not in skip:
                    for name in NAME.findall(node.value):
                        found.setdefault(name, []).append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_setting_the_code_names_is_in_the_reference():
    registered = {setting.name for setting in settings.REFERENCE}
    missing = {name: where for name, where in names_in_code().items() if name not in registered}
    assert not missing, f"add these to pipeline.settings.REFERENCE, then run python -m pipeline.settings --write-docs: {missing}"


def test_every_setting_in_the_reference_is_named_by_the_code():
    in_code = names_in_code()
    stale = [setting.name for setting in settings.REFERENCE if setting.name not in in_code]
    assert not stale, f"no code reads these; remove them from pipeline.settings.REFERENCE: {stale}"


def test_each_setting_is_listed_once_and_points_at_a_docs_page():
    names = [setting.name for setting in settings.REFERENCE]
    assert len(names) == len(set(names))
    assert all(setting.meaning and setting.default for setting in settings.REFERENCE)
    pages = {setting.page for setting in settings.REFERENCE}
    assert not [page for page in pages if not (PROJECT_ROOT / "docs" / page).is_file()]


def test_the_configuration_page_holds_the_generated_reference():
    printed = subprocess.run(
        [sys.executable, "-m", "pipeline.settings", "--markdown"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    page = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    between = page.partition(settings.REFERENCE_BEGIN)[2].partition(settings.REFERENCE_END)[0]
    assert between == "\n" + printed, "docs/configuration.md is out of date: run python -m pipeline.settings --write-docs"
    for setting in settings.REFERENCE:
        assert f"| `{setting.name}` |" in page


def test_a_name_missing_from_the_reference_is_found(tmp_path):
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "settings.py").write_text('REFERENCE = ("NEWSFLOW_ONLY_IN_REGISTRY",)\n', encoding="utf-8")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "thing.py").write_text('import os\nos.environ.get("NEWSFLOW_NEW_KNOB", "1")\n', encoding="utf-8")
    assert names_in_code(tmp_path) == {"NEWSFLOW_NEW_KNOB": ["flows/thing.py:2"]}


def test_the_docker_files_fall_back_to_the_code_defaults():
    """.env.example's values and docker-compose.yml's `${NAME:-default}` fall-backs are the code's
    defaults (empty means: let the code decide)."""
    defaults = {setting.name: setting.default.strip("`") for setting in settings.REFERENCE}
    env_example = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    compose = (PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    shown = [(name, value.strip('"')) for name, value in re.findall(r"^(NEWSFLOW_[A-Z0-9_]+)=(.*)$", env_example, re.M)]
    shown += re.findall(r"\$\{(NEWSFLOW_[A-Z0-9_]+):-([^}]*)\}", compose)
    compared = [(name, value, defaults[name]) for name, value in shown if value and name in defaults]
    assert {name for name, *_ in compared} >= {"NEWSFLOW_BATCH_SIZE", "NEWSFLOW_MAX_FILE_BYTES", "NEWSFLOW_CRON"}
    assert [(name, value) for name, value, default in compared if value != default] == []
