"""Token F1 between an extracted text and the expected one: now lives in workbench.evaluation."""

from workbench.evaluation import token_f1, tokens  # noqa: F401
