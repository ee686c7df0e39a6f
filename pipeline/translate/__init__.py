"""The translate stage: argos packages run through CTranslate2, sentences batched across documents.

- `installed_model`: `InstalledModel`, an installed package as `engine` loads it and `packages` lists it
- `packages`: list, find and install argos packages (from a file or a package index)
- `segment`: offline sentence segmentation, lossless
- `engine`: a loaded package translating lists of sentences
- `protect`: URLs, e-mail addresses, numbers and Latin-script names survive translation
- `cache`: the translation cache protocol, in memory, in the warehouse, and prefetched for a worker
- `stage`: `translate_documents`, the stage itself (direct or pivot routes), and
  `sentences_to_translate`, what it will look up in the cache

Packages built for tests and benchmarks live in the workbench (`workbench/translate/`), not here.
"""

from pipeline.translate.cache import (
    MemoryTranslationCache,
    PrefetchedTranslationCache,
    TranslationCache,
    WarehouseTranslationCache,
    prefetch,
    store_new,
)
from pipeline.translate.engine import (
    TranslationEngine,
    TranslationSetupError,
    engine_for,
    translate_device,
    translate_threads,
    unload_engines,
)
from pipeline.translate.installed_model import InstalledModel
from pipeline.translate.packages import (
    ModelInstallError,
    find_model,
    install_from_index,
    install_hint,
    install_package_file,
    list_installed_packages,
)
from pipeline.translate.segment import split_long_sentence, split_sentences
from pipeline.translate.stage import (
    TranslationRoute,
    find_route,
    missing_model_languages,
    sentences_to_translate,
    translate_documents,
)

__all__ = [
    "MemoryTranslationCache",
    "PrefetchedTranslationCache",
    "TranslationCache",
    "TranslationRoute",
    "WarehouseTranslationCache",
    "find_route",
    "InstalledModel",
    "ModelInstallError",
    "TranslationEngine",
    "TranslationSetupError",
    "engine_for",
    "find_model",
    "install_from_index",
    "install_hint",
    "install_package_file",
    "list_installed_packages",
    "missing_model_languages",
    "prefetch",
    "sentences_to_translate",
    "split_long_sentence",
    "split_sentences",
    "store_new",
    "translate_device",
    "translate_documents",
    "translate_threads",
    "unload_engines",
]
