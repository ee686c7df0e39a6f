"""The workbench: evaluation, model training and test-model builders, beside the product and never
shipped in its wheel (pyproject.toml packages only `pipeline` and `flows`).

It imports the product (`pipeline`); `pipeline` and `flows` never import it, except `newsflow eval`,
which loads `workbench.evaluation` when run from a source checkout. Its own data (the development
pages and texts, their labels, the quality baseline) lives in `workbench/data/`.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CHECKOUT_ROOT = DATA_DIR.parent.parent  # the source checkout the workbench lives in
