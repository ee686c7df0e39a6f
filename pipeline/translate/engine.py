"""Run an installed argos package through CTranslate2, many sentences per call.

One `TranslationEngine` (a loaded `ctranslate2.Translator` and its SentencePiece processor)
exists per installed package per process: `engine_for(model)` caches them, because loading a
real model takes seconds and hundreds of megabytes.

Where it runs comes from the environment: `NEWSFLOW_TRANSLATE_DEVICE` (`auto`, `cpu` or `cuda`;
`translate_device`) and, on the CPU, `NEWSFLOW_TRANSLATE_THREADS`, else the cores shared out
among `NEWSFLOW_WORKERS_PER_HOST` worker processes (`translate_threads`).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.translate.installed_model import InstalledModel
from pipeline.translate.segment import split_long_sentence

# argos models were trained on sentences of at most a few hundred pieces; longer inputs are
# cut at clause boundaries first (and CTranslate2 would truncate at 1024 anyway).
MAX_INPUT_TOKENS = 200
DEFAULT_BEAM_SIZE = 2
DEFAULT_MAX_BATCH_SIZE = 32  # sentences per translate_batch call

DEVICE_ENV = "NEWSFLOW_TRANSLATE_DEVICE"
THREADS_ENV = "NEWSFLOW_TRANSLATE_THREADS"
WORKERS_PER_HOST_ENV = "NEWSFLOW_WORKERS_PER_HOST"
DEVICES = ("auto", "cpu", "cuda")


class TranslationSetupError(RuntimeError):
    """The translation settings cannot work on this machine (a bad value, CUDA without a GPU);
    the message says what to change."""


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def cuda_device_count() -> int:
    """CUDA devices CTranslate2 can use (0 without a GPU, a driver or CTranslate2's CUDA libraries)."""
    import ctranslate2

    try:
        return ctranslate2.get_cuda_device_count()
    except Exception:  # a broken CUDA install reads as no device
        return 0


def translate_device(environ: Mapping[str, str] = os.environ, *, cuda_devices: int | None = None) -> str:
    """"cpu" or "cuda": what `NEWSFLOW_TRANSLATE_DEVICE` (default `auto`) asks for on this machine.

    `auto` is "cuda" when CTranslate2 sees a CUDA device, else "cpu". `cuda` without a device
    raises `TranslationSetupError`. `cuda_devices` stands for `cuda_device_count()`.
    """
    requested = (environ.get(DEVICE_ENV) or "auto").strip().lower()
    if requested not in DEVICES:
        raise TranslationSetupError(
            f"{DEVICE_ENV}={environ.get(DEVICE_ENV)!r} is not a translation device; use one of "
            f"{', '.join(DEVICES)} (auto: CUDA when CTranslate2 sees an NVIDIA GPU, else the CPU)."
        )
    if requested == "cpu":
        return "cpu"
    devices = cuda_device_count() if cuda_devices is None else cuda_devices
    if requested == "auto":
        return "cuda" if devices > 0 else "cpu"
    if devices == 0:
        raise TranslationSetupError(
            f"{DEVICE_ENV}=cuda, but CTranslate2 sees no CUDA device on this machine (it needs an "
            "NVIDIA GPU, its driver and the CUDA 12 runtime libraries). Set "
            f"{DEVICE_ENV}=auto or cpu to translate on the CPU, or fix the GPU setup (`nvidia-smi` "
            "should list the GPU)."
        )
    return "cuda"


def _whole_number(environ: Mapping[str, str], name: str) -> int | None:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise TranslationSetupError(f"{name}={raw!r} must be a whole number of at least 1.")
    return value


def translate_threads(environ: Mapping[str, str] = os.environ, *, cores: int | None = None) -> int:
    """CPU threads for each translator: `NEWSFLOW_TRANSLATE_THREADS` when set, else this
    machine's cores (`cores` stands for `cpu_count()`) shared out among the
    `NEWSFLOW_WORKERS_PER_HOST` worker processes on it (default 1), so that workers translating
    at the same time do not oversubscribe the cores; at least 1.
    """
    threads = _whole_number(environ, THREADS_ENV)
    if threads is not None:
        return threads
    workers = _whole_number(environ, WORKERS_PER_HOST_ENV) or 1
    return max(1, (cpu_count() if cores is None else cores) // workers)


def best_compute_type(device: str = "cpu") -> str:
    import ctranslate2

    return "int8" if "int8" in ctranslate2.get_supported_compute_types(device) else "default"


def max_decoding_length(input_tokens: int) -> int:
    """A bound on a sentence's output length: enough for a real translation, short enough to
    cut a model that repeats itself. Rounded up to a multiple of 16 so that sentences of
    similar length share a batch; it depends on the sentence alone, so a sentence translates
    the same whatever it is batched with.
    """
    return min(2 * MAX_INPUT_TOKENS, 16 * math.ceil((math.ceil(1.5 * input_tokens) + 8) / 16))


@dataclass(frozen=True)
class _Unit:
    sentence_index: int
    tokens: list[str]


class TranslationEngine:
    """One installed package, loaded: translates lists of sentences."""

    def __init__(
        self,
        model: InstalledModel,
        *,
        beam_size: int = DEFAULT_BEAM_SIZE,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        device: str | None = None,
        intra_threads: int | None = None,
        compute_type: str | None = None,
        max_input_tokens: int = MAX_INPUT_TOKENS,
        decoding_length: Callable[[int], int] = max_decoding_length,
    ):
        import ctranslate2
        import sentencepiece

        self.model = model
        self.beam_size = beam_size
        self.max_batch_size = max_batch_size
        self.max_input_tokens = max_input_tokens
        self.decoding_length = decoding_length  # input tokens -> decoding bound (the benchmark fixes it)
        # `device` and `intra_threads` default to the environment's settings (see the module's doc).
        self.device = translate_device({DEVICE_ENV: device} if device else os.environ)
        self.intra_threads = intra_threads or translate_threads()
        self.compute_type = compute_type or best_compute_type(self.device)
        self.translator = ctranslate2.Translator(
            str(model.path / "model"),
            device=self.device,
            compute_type=self.compute_type,
            inter_threads=1,
            intra_threads=self.intra_threads,
        )
        self.tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(model.path / "sentencepiece.model"))
        self._lock = threading.Lock()  # one translate call at a time: it already uses all its threads
        # What this engine has done, for logs and for tests that prove a cache spared it work.
        self.calls = 0
        self.sentences_translated = 0

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, out_type=str))

    def translate_sentences(self, sentences: Sequence[str]) -> list[str]:
        """Translate each sentence; the result is in the input's order.

        Empty or whitespace-only sentences come back unchanged. A sentence longer than
        `max_input_tokens` is cut at clause boundaries and its pieces' translations are
        joined with a space.
        """
        results: list[str | None] = [None] * len(sentences)
        if sentences:
            self.calls += 1
        pieces_per_sentence: dict[int, int] = {}
        units: list[_Unit] = []
        for index, sentence in enumerate(sentences):
            if not sentence.strip():
                results[index] = sentence
                continue
            pieces = split_long_sentence(sentence.strip(), self.count_tokens, self.max_input_tokens)
            pieces_per_sentence[index] = len(pieces)
            self.sentences_translated += 1
            for piece in pieces:
                units.append(_Unit(index, self.tokenizer.encode(piece.strip(), out_type=str)))

        # Sorted by length, a batch holds sentences of similar length (little padding) that
        # share one decoding bound.
        order = sorted(range(len(units)), key=lambda i: len(units[i].tokens))
        translated: list[str] = [""] * len(units)
        for batch in self._batches(order, units):
            bound = self.decoding_length(len(units[batch[0]].tokens))
            for unit_index, text in zip(batch, self._translate_batch([units[i].tokens for i in batch], bound)):
                translated[unit_index] = text

        joined: dict[int, list[str]] = {}
        for unit, text in zip(units, translated):
            joined.setdefault(unit.sentence_index, []).append(text)
        for index, texts in joined.items():
            assert len(texts) == pieces_per_sentence[index]
            results[index] = " ".join(t for t in texts if t)
        return [r if r is not None else "" for r in results]

    def _batches(self, order: list[int], units: list[_Unit]) -> list[list[int]]:
        batches: list[list[int]] = []
        for unit_index in order:
            bound = self.decoding_length(len(units[unit_index].tokens))
            current = batches[-1] if batches else None
            if (
                current is None
                or len(current) >= self.max_batch_size
                or self.decoding_length(len(units[current[0]].tokens)) != bound
            ):
                batches.append([unit_index])
            else:
                current.append(unit_index)
        return batches

    def _translate_batch(self, batch: list[list[str]], max_length: int) -> list[str]:
        prefix = self.model.target_prefix
        with self._lock:
            results = self.translator.translate_batch(
                batch,
                target_prefix=[[prefix]] * len(batch) if prefix else None,
                max_batch_size=self.max_batch_size,
                batch_type="examples",
                beam_size=self.beam_size,
                num_hypotheses=1,
                max_decoding_length=max_length,
            )
        outputs = []
        for result in results:
            tokens = result.hypotheses[0]
            if prefix and tokens and tokens[0] == prefix:
                tokens = tokens[1:]
            # Pieces outside the SentencePiece model come back raw, with their word marker.
            outputs.append(self.tokenizer.decode(tokens).replace("\u2581", " ").strip())
        return outputs


_ENGINES: dict[tuple[str, str, int], TranslationEngine] = {}
_ENGINES_LOCK = threading.Lock()
_ENGINE_OPTIONS: dict = {}


def configure_engines(**options) -> None:
    """Keyword arguments of `TranslationEngine` for every engine `engine_for` loads from now on
    (engines already loaded are dropped). The benchmark uses it to bound decoding."""
    with _ENGINES_LOCK:
        _ENGINE_OPTIONS.clear()
        _ENGINE_OPTIONS.update(options)
        _ENGINES.clear()


def engine_for(model: InstalledModel) -> TranslationEngine:
    """The process-wide engine for an installed package (loaded on first use; loaded again
    when the package was reinstalled since)."""
    key = (str(model.path), model.version, (model.path / "model" / "model.bin").stat().st_mtime_ns)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = TranslationEngine(model, **_ENGINE_OPTIONS)
        return engine


def unload_engines() -> None:
    """Forget every loaded engine (after reinstalling a package, or to free memory)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()
