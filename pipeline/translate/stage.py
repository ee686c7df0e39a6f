"""The translate stage: give every document an English body (`text_en`) and say how it got it.

Sentences of all documents in one language go to the engine in one call (CTranslate2 is far
faster on large batches than document by document); repeated sentences (bylines, captions)
are translated once, and with a cache not even once more across runs. A language without a
direct package goes through a pivot language when both halves are installed, and Malay and
Indonesian, which share most of their words, go through each other's model when neither a
package nor a pivot exists for their own (`RELATED_LANGUAGES`). URLs, e-mail
addresses, numbers and Latin-script names are protected (`protect`). The stage never raises: a document ends up `not_needed`, `translated`,
`missing_model` or `failed`, and rejected documents pass through untouched.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.record import PARAGRAPH_SEPARATOR, Document, TranslationFailure
from pipeline.translate.cache import TranslationCache
from pipeline.translate.engine import TranslationEngine, TranslationSetupError, engine_for
from pipeline.translate.installed_model import InstalledModel
from pipeline.translate.packages import install_hint, list_installed_packages, version_key
from pipeline.translate.protect import translate_protected
from pipeline.translate.segment import split_sentences

logger = logging.getLogger(__name__)

NOT_NEEDED = "not_needed"
TRANSLATED = "translated"
MISSING_MODEL = "missing_model"
FAILED = "failed"
UNDETERMINED = "und"
# Languages whose texts a model of the other reads well enough, used only when a language has
# neither a package nor a pivot of its own: a Malay article (or a paragraph the language stage
# called Malay in an Indonesian one) is translated by the Indonesian model rather than not at all.
RELATED_LANGUAGES: dict[str, tuple[str, ...]] = {"ms": ("id",), "id": ("ms",)}


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


def _with_titles(sentences: list[str], docs: Iterable[Document]) -> list[str]:
    unique = dict.fromkeys(sentences)
    for doc in docs:
        if doc.title and doc.title.strip():
            unique.setdefault(doc.title.strip(), None)
    return list(unique)


def _title_en(doc: Document, translations: dict[str, str]) -> str | None:
    if not doc.title or not doc.title.strip():
        return None
    return translations.get(doc.title.strip()) or None


def _unique_sentences(plans_per_doc: Iterable[list[_ParagraphPlan]]) -> list[str]:
    unique: dict[str, None] = {}
    for plans in plans_per_doc:
        for plan in plans:
            for sentence in plan.sentences:
                if sentence.strip():
                    unique.setdefault(sentence.strip(), None)
    return list(unique)


@dataclass(frozen=True)
class TranslationRoute:
    """The packages a text goes through, in order: one, or two through a pivot language."""

    models: tuple[InstalledModel, ...]
    read_as: tuple[str, str] | None = None  # (language, related language whose models read it)

    @property
    def label(self) -> str:
        """What `Document.translation_model` records, e.g. "translate-ms_id 1.0 + translate-id_en 1.9",
        or "translate-id_en 1.9 (ms read as id)" when a related language's model stands in."""
        label = " + ".join(model.label for model in self.models)
        return f"{label} ({self.read_as[0]} read as {self.read_as[1]})" if self.read_as else label


def find_route(models: Iterable[InstalledModel], source: str, target: str = "en") -> TranslationRoute | None:
    """The newest direct `source`->`target` package, else a pivot `source`->`pivot`->`target`
    (the pivot with the alphabetically first code when several would do), else the same for a
    related language (`RELATED_LANGUAGES`), else None."""
    by_pair = _newest_by_pair(models)
    return _route(by_pair, source, target)


def _route(by_pair: dict[tuple[str, str], InstalledModel], source: str, target: str) -> TranslationRoute | None:
    own = _own_route(by_pair, source, target)
    if own is not None:
        return own
    for related in RELATED_LANGUAGES.get(source, ()):
        if related == target:
            continue
        route = _own_route(by_pair, related, target)
        if route is not None:
            return TranslationRoute(route.models, read_as=(source, related))
    return None


def _own_route(by_pair: dict[tuple[str, str], InstalledModel], source: str, target: str) -> TranslationRoute | None:
    direct = by_pair.get((source, target))
    if direct is not None:
        return TranslationRoute((direct,))
    pivots = sorted(
        pivot
        for (from_code, pivot) in by_pair
        if from_code == source and pivot not in (source, target) and (pivot, target) in by_pair
    )
    if not pivots:
        return None
    return TranslationRoute((by_pair[(source, pivots[0])], by_pair[(pivots[0], target)]))


def _newest_by_pair(models: Iterable[InstalledModel]) -> dict[tuple[str, str], InstalledModel]:
    by_pair: dict[tuple[str, str], InstalledModel] = {}
    for model in models:
        pair = (model.from_code, model.to_code)
        if pair not in by_pair or version_key(model.version) > version_key(by_pair[pair].version):
            by_pair[pair] = model
    return by_pair


@dataclass(frozen=True)
class _LanguageBatch:
    """The documents of one language that have a route, with their paragraphs planned."""

    route: TranslationRoute
    indices: tuple[int, ...]  # positions in the input
    docs: tuple[Document, ...]
    plans: tuple[list[_ParagraphPlan], ...]  # per document

    def sentences(self) -> list[str]:
        """The unique sentences to look up in the cache and translate, in first-seen order: the
        paragraphs', then the titles (each title is translated as one sentence)."""
        return _with_titles(_unique_sentences(self.plans), self.docs)


@dataclass(frozen=True)
class _TranslationPlan:
    settled: dict[int, Document]  # decided without a model: not_needed, missing_model (input position -> result)
    batches: tuple[_LanguageBatch, ...]


def _plan_translation(
    docs: Sequence[Document], target: str, models: Iterable[InstalledModel] | None
) -> _TranslationPlan:
    """What `translate_documents` will do, without loading any model."""
    settled: dict[int, Document] = {}
    pending: dict[str, list[int]] = {}
    routes: dict[str, TranslationRoute | None] = {}
    by_pair: dict[tuple[str, str], InstalledModel] | None = None
    for index, doc in enumerate(docs):
        if doc.rejected:
            continue
        language = doc.language or UNDETERMINED
        if language in (target, UNDETERMINED) or not (doc.text or "").strip():
            settled[index] = doc.replace(text_en=doc.text, title_en=doc.title, translation_status=NOT_NEEDED, translation_model=None)
            continue
        if by_pair is None:  # listing packages imports argos: only when something needs it
            by_pair = _newest_by_pair(list_installed_packages() if models is None else models)
        if language not in routes:
            routes[language] = _route(by_pair, language, target)
        if routes[language] is None:
            settled[index] = doc.replace(text_en=None, title_en=None, translation_status=MISSING_MODEL, translation_model=None)
            continue
        pending.setdefault(language, []).append(index)

    batches = []
    for language, indices in pending.items():
        route = routes[language]
        assert route is not None
        language_docs = tuple(docs[i] for i in indices)
        plans = tuple(_plan_paragraphs(doc, target) for doc in language_docs)
        batches.append(_LanguageBatch(route, tuple(indices), language_docs, plans))
    return _TranslationPlan(settled, tuple(batches))


def _chain(engines: list[TranslationEngine]):
    def translate(sentences: list[str]) -> list[str]:
        for engine in engines:
            sentences = engine.translate_sentences(sentences)
        return sentences

    return translate


def _cached(cache: TranslationCache | None, label: str, sentences: list[str]) -> dict[str, str]:
    if cache is None or not sentences:
        return {}
    try:
        return cache.get(label, sentences)
    except Exception:  # a cache that cannot be read costs time, never the translation
        logger.exception("could not read the translation cache; translating everything")
        return {}


def _remember(cache: TranslationCache | None, label: str, translations: dict[str, str]) -> None:
    pairs = [(source, text) for source, text in translations.items() if text.strip()]
    if cache is None or not pairs:
        return
    try:
        cache.put(label, pairs)
    except Exception:
        logger.exception("could not store %d translations in the cache", len(pairs))


def _translate_sentences(
    sentences: list[str], engines: list[TranslationEngine], label: str, cache: TranslationCache | None
) -> dict[str, str]:
    translations = _cached(cache, label, sentences)
    todo = [s for s in sentences if s not in translations]
    if todo:
        fresh = dict(zip(todo, translate_protected(todo, _chain(engines))))
        _remember(cache, label, fresh)
        translations.update(fresh)
    return translations


def _translate_language(batch: _LanguageBatch, cache: TranslationCache | None) -> list[Document]:
    route, docs, plans = batch.route, batch.docs, batch.plans
    label = route.label

    def translated(doc: Document, doc_plans: list[_ParagraphPlan], translations: dict[str, str]) -> Document:
        return doc.replace(
            text_en=_rebuild(doc_plans, translations),
            title_en=_title_en(doc, translations),
            translation_status=TRANSLATED,
            translation_model=label,
        )

    def failed(doc: Document, reason: str) -> Document:
        failure = TranslationFailure(model=label, reason=reason)
        return doc.replace(text_en=None, title_en=None, translation_status=FAILED, translation_model=None, translation_failure=failure)

    reinstall = " and ".join(f"`{install_hint(model.from_code)}`" for model in route.models)
    try:
        engines = [engine_for(model) for model in route.models]
    except TranslationSetupError as error:  # the machine's settings, not the package: reinstalling would not help
        logger.error("could not load translation model %s: %s", label, error)
        reason = f"{label} was not loaded: {error} Then run `newsflow translate --pending`."
        return [failed(doc, reason) for doc in docs]
    except Exception as error:
        logger.exception("could not load translation model %s", label)
        reason = (
            f"{label} does not load ({type(error).__name__}: {error}); reinstall it with {reinstall}, "
            "then run `newsflow translate --pending`."
        )
        return [failed(doc, reason) for doc in docs]

    try:
        translations = _translate_sentences(batch.sentences(), engines, label, cache)
        return [translated(doc, p, translations) for doc, p in zip(docs, plans)]
    except Exception:
        logger.exception("batch translation with %s failed; retrying document by document", label)

    results = []
    for doc, doc_plans in zip(docs, plans):
        try:
            translations = _translate_sentences(_with_titles(_unique_sentences([doc_plans]), [doc]), engines, label, cache)
            results.append(translated(doc, doc_plans, translations))
        except Exception as error:
            logger.exception("translation of %s with %s failed", doc.source_path, label)
            reason = (
                f"{label} failed on this article ({type(error).__name__}: {error}); run `newsflow translate "
                f"--pending` to try again, or reinstall the model with {reinstall}."
            )
            results.append(failed(doc, reason))
    return results


def translate_documents(
    docs: Sequence[Document],
    *,
    target: str = "en",
    models: Iterable[InstalledModel] | None = None,
    cache: TranslationCache | None = None,
) -> list[Document]:
    """Fill `text_en`, `translation_status` and `translation_model` of every document.

    `models` are the packages to use (default: the installed ones); without a direct package
    for a language, a pivot through another language is used when both halves are installed.
    Paragraphs whose detected language is already `target` pass through untouched; paragraph
    structure is preserved; URLs, e-mail addresses, numbers and Latin-script names survive
    (see `protect`). With a `cache`, sentences it holds are not translated again, and new
    translations are added to it.
    """
    plan = _plan_translation(docs, target, models)
    results = list(docs)
    for index, doc in plan.settled.items():
        results[index] = doc
    for batch in plan.batches:
        for index, doc in zip(batch.indices, _translate_language(batch, cache)):
            results[index] = doc
    return results


def sentences_to_translate(
    docs: Sequence[Document],
    *,
    target: str = "en",
    models: Iterable[InstalledModel] | None = None,
) -> dict[str, list[str]]:
    """The sentences `translate_documents(docs, target=target, models=models)` will look up in
    its cache, keyed by the label it looks them up under (the route's, e.g. "translate-id_en 1.9"
    or "translate-ms_id 1.0 + translate-id_en 1.9"). Languages without a route are left out.
    Planning only: no model is loaded, so a process that must not translate (the one holding
    the warehouse) can read the cache for a batch before sending the batch to a worker.
    """
    needed: dict[str, dict[str, None]] = {}
    for batch in _plan_translation(docs, target, models).batches:
        needed.setdefault(batch.route.label, {}).update(dict.fromkeys(batch.sentences()))
    return {label: list(sentences) for label, sentences in needed.items()}


def documents_needing_a_model(
    docs: Sequence[Document], *, target: str = "en", models: Iterable[InstalledModel] | None = None
) -> list[int]:
    """Positions of the documents `translate_documents` would send to a model (planning only);
    it settles the others without one, so only these need to travel to a worker."""
    return sorted(index for batch in _plan_translation(docs, target, models).batches for index in batch.indices)


def missing_model_languages(docs: Iterable[Document]) -> dict[str, int]:
    """How many documents per language waited for a model that is not installed."""
    counts = Counter(
        doc.language or UNDETERMINED
        for doc in docs
        if not doc.rejected and doc.translation_status == MISSING_MODEL
    )
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
