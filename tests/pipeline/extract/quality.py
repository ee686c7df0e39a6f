"""Token F1 between an extracted text and the expected one (characters for unspaced scripts)."""

from __future__ import annotations

import re
from collections import Counter

_UNSPACED = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def tokens(text: str) -> list[str]:
    out: list[str] = []
    for word in re.findall(r"\w+", text.lower()):
        out.extend(word if _UNSPACED.search(word) else [word])
    return out


def token_f1(predicted: str, expected: str) -> float:
    p, e = Counter(tokens(predicted)), Counter(tokens(expected))
    common = sum((p & e).values())
    if not common:
        return 1.0 if not p and not e else 0.0
    precision, recall = common / sum(p.values()), common / sum(e.values())
    return 2 * precision * recall / (precision + recall)
