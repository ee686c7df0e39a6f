"""The translate stage: give every document an English body (`text_en`) and say how it got it.

Sentences of all documents in one language go to the engine in one call (CTranslate2 is far
faster on large batches than document by document); repeated sentences (bylines, captions)
are translated once. The stage never raises: a document ends up `not_needed`, `translated`,
`missing_model` or `failed`, and rejected documents pass through untouched.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.record import PARAGRAPH_SEPARATOR, Document
from pipeline.translate.engine import engine_for
from pipeline.translate.packages import InstalledModel, version_key, list_installed_packages
from pipeline.translate.segment import split_sentences

logger = logging.getLogger(__name__)

NOT_NEEDED = "not_needed"
TRANSLATED = "translated"
MISSING_MODEL = "missing_model"
FAILED = "failed"
UNDETERMINED = "und"


@dataclass(frozen=True)
class _ParagraphPlan:
    text: str
    sentences: tuple[str, ...]  # empty when the paragraph passes through untouched


def _plan_paragraphs(doc: Document, target: str) -> list[_ParagraphPlan]:
    paragraphs = doc.paragraphs
    languages = doc.paragraph_languages
    if len(languages) != len(paragraphs):
        languages = ()  # not aligned: trust the document's language for every paragraph
    plans = []
    for index, paragraph in enumerate(paragraphs):
        if languages and languages[index].language == target:
            plans.append(_ParagraphPlan(paragraph, ()))
        else:
            plans.append(_ParagraphPlan(paragraph, tuple(split_sentences(paragraph, doc.language or ""))))
    return plans


def _rebuild(plans: list[_ParagraphPlan], translations: dict[str, str]) -> str:
    paragraphs = []
    for plan in plans:
        if not plan.sentences:
            paragraphs.append(plan.text)
            continue
        parts = []
        for sentence in plan.sentences:
            core = sentence.strip()
            if not core:
                parts.append(sentence)
                continue
            trailing = sentence[len(sentence.rstrip()) :]
            parts.append(translations.get(core, "") + trailing)
        translated = "".join(parts).strip()
        # An empty output would silently drop a paragraph and shift the rest: keep the source.
        paragraphs.append(translated or plan.text)
    return PARAGRAPH_SEPARATOR.join(paragraphs)


def _unique_sentences(plans_per_doc: Iterable[list[_ParagraphPlan]]) -> list[str]:
    unique: dict[str, None] = {}
    for plans in plans_per_doc:
        for plan in plans:
            for sentence in plan.sentences:
                if sentence.strip():
                    unique.setdefault(sentence.strip(), None)
    return list(unique)


def _translate_language(docs: list[Document], model: InstalledModel, target: str) -> list[Document]:
    plans = [_plan_paragraphs(doc, target) for doc in docs]

    def translated(doc: Document, doc_plans: list[_ParagraphPlan], translations: dict[str, str]) -> Document:
        return doc.replace(
            text_en=_rebuild(doc_plans, translations),
            translation_status=TRANSLATED,
            translation_model=model.label,
        )

    def failed(doc: Document) -> Document:
        return doc.replace(text_en=None, translation_status=FAILED, translation_model=None)

    try:
        engine = engine_for(model)
    except Exception:
        logger.exception("could not load translation model %s from %s", model.label, model.path)
        return [failed(doc) for doc in docs]

    sentences = _unique_sentences(plans)
    try:
        translations = dict(zip(sentences, engine.translate_sentences(sentences)))
        return [translated(doc, p, translations) for doc, p in zip(docs, plans)]
    except Exception:
        logger.exception("batch translation with %s failed; retrying document by document", model.label)

    results = []
    for doc, doc_plans in zip(docs, plans):
        doc_sentences = _unique_sentences([doc_plans])
        try:
            translations = dict(zip(doc_sentences, engine.translate_sentences(doc_sentences)))
            results.append(translated(doc, doc_plans, translations))
        except Exception:
            logger.exception("translation of %s with %s failed", doc.source_path, model.label)
            results.append(failed(doc))
    return results


def _newest_by_pair(models: Iterable[InstalledModel]) -> dict[tuple[str, str], InstalledModel]:
    by_pair: dict[tuple[str, str], InstalledModel] = {}
    for model in models:
        pair = (model.from_code, model.to_code)
        if pair not in by_pair or version_key(model.version) > version_key(by_pair[pair].version):
            by_pair[pair] = model
    return by_pair


def translate_documents(
    docs: Sequence[Document],
    *,
    target: str = "en",
    models: Iterable[InstalledModel] | None = None,
) -> list[Document]:
    """Fill `text_en`, `translation_status` and `translation_model` of every document.

    `models` are the packages to use (default: the installed ones). Paragraphs whose detected
    language is already `target` pass through untouched; paragraph structure is preserved.
    """
    results = list(docs)
    pending: dict[str, list[int]] = {}
    by_pair: dict[tuple[str, str], InstalledModel] | None = None
    for index, doc in enumerate(docs):
        if doc.rejected:
            continue
        language = doc.language or UNDETERMINED
        if language in (target, UNDETERMINED) or not (doc.text or "").strip():
            results[index] = doc.replace(text_en=doc.text, translation_status=NOT_NEEDED, translation_model=None)
            continue
        if by_pair is None:  # listing packages imports argos: only when something needs it
            by_pair = _newest_by_pair(list_installed_packages() if models is None else models)
        if (language, target) not in by_pair:
            results[index] = doc.replace(text_en=None, translation_status=MISSING_MODEL, translation_model=None)
            continue
        pending.setdefault(language, []).append(index)

    for language, indices in pending.items():
        assert by_pair is not None
        translated = _translate_language([docs[i] for i in indices], by_pair[(language, target)], target)
        for index, doc in zip(indices, translated):
            results[index] = doc
    return results


def missing_model_languages(docs: Iterable[Document]) -> dict[str, int]:
    """How many documents per language waited for a model that is not installed."""
    counts = Counter(
        doc.language or UNDETERMINED
        for doc in docs
        if not doc.rejected and doc.translation_status == MISSING_MODEL
    )
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
