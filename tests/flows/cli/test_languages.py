"""`newsflow translate --pending` says what is still missing a model as a sentence per language,
with the command that installs it (run as a user runs it: a subprocess)."""

from __future__ import annotations

import pytest

from tests.conftest import copy_of_seeds_warehouse, newsflow


@pytest.mark.server
def test_translate_pending_names_each_missing_model_with_its_install_command(prefect_env, seeds_warehouse, tmp_path):
    warehouse = str(copy_of_seeds_warehouse(seeds_warehouse, tmp_path / "news.duckdb"))  # no model: the Indonesian article waits

    result = newsflow(["translate", "--pending", "--warehouse", warehouse], env=prefect_env)

    assert result.stdout.splitlines() == [
        "translated 0 of 1 pending article",
        "1 article in id still has no translation model: install it with `newsflow models install id`, "
        "then run `newsflow translate --pending` again",
    ]
