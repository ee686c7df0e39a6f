"""The translate tests' own set-up: argos kept away from $HOME and the network, a package folder per
test, and the word-by-word dictionary packages built once."""

from tests.pipeline.translate.conftest import dictionary_packages, packages_dir  # noqa: F401
