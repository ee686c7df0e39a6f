"""Translation benchmark: newsflow's translate stage against what a user would write, and the ceiling.

    python -m bench.translate_bench [--copies 3] [--no-argos]

All runs translate the same Indonesian documents (seed 004 and the Indonesian sentences of
the development data's langid set, workbench/data/devdata/langid, copied `--copies` times with a marker so no sentence repeats) with the
same package, each in its own process (so peak memory is its own):

- argos per document: `argostranslate.translate.translate(text, "id", "en")` once per document,
  run in a separate venv (bench/.venv-argos: CPU torch 2.13.0 + argostranslate 1.11; created on
  first run). argos's sentence splitters download models at first use, which fails offline, so
  the harness replaces the splitter with newsflow's offline one (same sentences for every run);
  what is measured is argos's per-document translation calls.
- ctranslate2 per document: the same loaded translator, one `translate_batch` per document.
- newsflow: `translate_documents` (sentences of all documents batched, sorted by length).
- ceiling: one `translate_batch` over all sentences, tokenised beforehand.

The package has the architecture of the real argos models (transformer, 6+6 layers, d_model
512, 32k vocabulary, int8) with seeded random weights, so each token costs what it costs with
the real translate-id_en. Random weights rarely emit end-of-sentence, so every run decodes
each sentence to the same fixed length (`--decode-tokens`, default 1.3 x the mean input
length) with the same beam size (2; argos's default of 4 would make it slower still).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
from bench.corpus import SEEDS_DIR  # noqa: E402 (after the paths it needs)
ARGOS_VENV = BENCH_DIR / ".venv-argos"
TORCH_PIN = "torch==2.13.0"  # the CPU wheel in the local wheel folder; never the CUDA build
ARGOS_PIN = "argostranslate==1.11.0"
BEAM_SIZE = 2
WITH_NUMBERS = "newsflow, text with its numbers (retry path)"
MAX_BATCH_SIZE = 32


# --- documents -------------------------------------------------------------------------------


def source_paragraphs() -> list[list[str]]:
    """Indonesian documents, each a list of paragraphs."""
    seed = (SEEDS_DIR / "004_2d2b0ea8dc19c5b8.txt").read_text(encoding="utf-8")
    seed_paragraphs = [line.strip() for line in seed.splitlines() if len(line.split()) >= 12]
    documents = [seed_paragraphs[i : i + 4] for i in range(0, len(seed_paragraphs), 4)]
    from workbench.evaluation import default_devdata

    dev = default_devdata() / "langid" / "dev.tsv"
    if dev.exists():
        sentences = [
            parts[2].strip()
            for parts in (line.split("\t") for line in dev.read_text(encoding="utf-8").splitlines())
            if len(parts) >= 3 and parts[0] == "id" and parts[1] == "sentences"
        ]
        for start in range(0, len(sentences), 6):
            chunk = sentences[start : start + 6]
            documents.append([" ".join(chunk[:3]), " ".join(chunk[3:])] if len(chunk) > 3 else [" ".join(chunk)])
    return [doc for doc in documents if doc]


def _mark_sentences(paragraph: str, marker: str) -> str:
    """Put `marker` at the end of every sentence of `paragraph`, before its final punctuation."""
    from pipeline.translate.segment import split_sentences

    marked = []
    for sentence in split_sentences(paragraph, "id"):
        core = sentence.rstrip()
        body = core.rstrip(".!?\u201d\"")
        marked.append(f"{body} {marker}{core[len(body):]}{sentence[len(core):]}")
    return "".join(marked)


_NUMBER = re.compile(r"\d+(?:[.,/:]\d+)*")


def without_numbers(documents: list[list[str]]) -> list[list[str]]:
    """Every number replaced by a word. A random-weight model cannot copy a number, so on text
    with numbers newsflow's faithfulness check sends each such sentence through again: work a
    real model does not cause. The timed comparison uses number-free text (the same work for
    every run); the run on the original text shows that retry path's cost on its own."""
    return [[_NUMBER.sub("beberapa", p) for p in doc] for doc in documents]


def benchmark_documents(copies: int) -> list[list[str]]:
    """`copies` copies of every document; every sentence of a copy gets a marker word before its
    final stop, so no sentence repeats (newsflow would translate a repeat only once). Words, not
    numbers: an added number would add work to newsflow's number check and nothing else."""
    documents = []
    for copy in range(copies):
        marker = "lagi" * copy  # "", "lagi", "lagilagi", ...
        for doc in source_paragraphs():
            documents.append(doc if copy == 0 else [_mark_sentences(p, marker) for p in doc])
    return documents


# --- workers (each runs in its own process) ----------------------------------------------------


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sentences(documents: list[list[str]]) -> list[list[str]]:
    from pipeline.translate.segment import split_sentences

    return [[s.strip() for p in doc for s in split_sentences(p, "id") if s.strip()] for doc in documents]


def _translator(package_dir: Path, threads: int):
    import ctranslate2
    import sentencepiece

    (root,) = [p for p in package_dir.iterdir() if (p / "model").is_dir()]
    translator = ctranslate2.Translator(str(root / "model"), device="cpu", compute_type="int8", intra_threads=threads)
    tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(root / "sentencepiece.model"))
    return translator, tokenizer


def worker_newsflow(documents, package_dir: Path, decode: int, threads: int) -> dict:
    from pipeline.record import Document
    from pipeline.translate.engine import configure_engines, engine_for
    from pipeline.translate.packages import list_installed_packages
    from pipeline.translate.stage import translate_documents

    configure_engines(decoding_length=lambda _tokens: decode, intra_threads=threads, beam_size=BEAM_SIZE)
    started = time.perf_counter()
    models = list_installed_packages()
    engine_for(models[0])
    loaded = time.perf_counter() - started
    docs = [
        Document(source_path=f"{i}.txt", text="\n\n".join(doc), language="id", language_confidence=1.0)
        for i, doc in enumerate(documents)
    ]
    started = time.perf_counter()
    results = translate_documents(docs, models=models)
    seconds = time.perf_counter() - started
    assert all(d.translation_status == "translated" for d in results), [d.translation_status for d in results]
    engine = engine_for(models[0])
    return {"seconds": seconds, "load_seconds": loaded, "engine_calls": engine.calls, "model_inputs": engine.sentences_translated}


def worker_ceiling(documents, package_dir: Path, decode: int, threads: int) -> dict:
    started = time.perf_counter()
    translator, tokenizer = _translator(package_dir, threads)
    loaded = time.perf_counter() - started
    tokens = [tokenizer.encode(s, out_type=str) for doc in _sentences(documents) for s in doc]
    started = time.perf_counter()
    translator.translate_batch(
        tokens, max_batch_size=MAX_BATCH_SIZE, beam_size=BEAM_SIZE, max_decoding_length=decode
    )
    return {"seconds": time.perf_counter() - started, "load_seconds": loaded, "engine_calls": 1}


def worker_per_document(documents, package_dir: Path, decode: int, threads: int) -> dict:
    started = time.perf_counter()
    translator, tokenizer = _translator(package_dir, threads)
    loaded = time.perf_counter() - started
    per_doc = _sentences(documents)
    started = time.perf_counter()
    for sentences in per_doc:
        results = translator.translate_batch(
            [tokenizer.encode(s, out_type=str) for s in sentences],
            max_batch_size=MAX_BATCH_SIZE,
            beam_size=BEAM_SIZE,
            max_decoding_length=decode,
        )
        [tokenizer.decode(r.hypotheses[0]) for r in results]
    return {"seconds": time.perf_counter() - started, "load_seconds": loaded, "engine_calls": len(per_doc)}


def worker_argos(documents, package_dir: Path, decode: int, threads: int) -> dict:
    """Runs inside bench/.venv-argos (argostranslate with torch), not the project's venv."""
    os.environ.update(
        {
            "ARGOS_PACKAGES_DIR": str(package_dir),
            "ARGOS_BEAM_SIZE": str(BEAM_SIZE),
            "ARGOS_INTRA_THREADS": str(threads),
            "ARGOS_COMPUTE_TYPE": "int8",
            "ARGOS_CHUNK_TYPE": "MINISBD",
        }
    )
    started = time.perf_counter()
    import ctranslate2
    import argostranslate.sbd as sbd
    import argostranslate.translate as argos_translate

    sys.path.insert(0, str(PROJECT_ROOT))  # pipeline.translate.segment is pure Python: the same sentences
    from pipeline.translate.segment import split_sentences

    class OfflineSentencizer(sbd.ISentenceBoundaryDetectionModel):
        def __init__(self, pkg):
            self.pkg = pkg

        def split_sentences(self, text: str) -> list[str]:
            return [s.strip() for s in split_sentences(text, "id") if s.strip()]

    class BoundedTranslator:
        """ctranslate2.Translator with decoding bounded like every other run."""

        def __init__(self, *args, **kwargs):
            self._translator = ctranslate2.Translator(*args, **kwargs)

        def translate_batch(self, *args, **kwargs):
            kwargs["max_decoding_length"] = decode
            return self._translator.translate_batch(*args, **kwargs)

    argos_translate.MiniSBDSentencizer = OfflineSentencizer
    argos_translate.ctranslate2 = type(sys)("ctranslate2_bounded")
    argos_translate.ctranslate2.Translator = BoundedTranslator
    translation = argos_translate.get_translation_from_codes("id", "en")
    translation.translate("Pemanasan.")  # load the model outside the timed part, as for the others
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    for doc in documents:
        argos_translate.translate("\n".join(doc), "id", "en")
    return {"seconds": time.perf_counter() - started, "load_seconds": loaded, "engine_calls": len(documents)}


WORKERS = {
    "argos": worker_argos,
    "per_document": worker_per_document,
    "newsflow": worker_newsflow,
    "ceiling": worker_ceiling,
}


def run_worker(args: argparse.Namespace) -> None:
    documents = json.loads(Path(args.documents).read_text(encoding="utf-8"))
    result = WORKERS[args.worker](documents, Path(args.packages), args.decode_tokens, args.threads)
    result["peak_mb"] = _peak_mb()
    print("RESULT " + json.dumps(result))


# --- the argos environment ---------------------------------------------------------------------


def ensure_argos_venv() -> tuple[Path | None, str]:
    """bench/.venv-argos with CPU torch and argostranslate; (python, "") or (None, why not)."""
    python = ARGOS_VENV / "bin" / "python"
    check = "import torch, argostranslate.translate; assert torch.version.cuda is None, torch.version.cuda; print(torch.__version__)"
    if python.exists() and subprocess.run([python, "-c", check], capture_output=True).returncode == 0:
        return python, ""
    steps = [
        [sys.executable, "-m", "venv", str(ARGOS_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", TORCH_PIN],
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write(TORCH_PIN + "\n")
    steps.append([str(python), "-m", "pip", "install", "--quiet", "-c", constraints.name, ARGOS_PIN])
    for step in steps:
        print("  $", " ".join(step), flush=True)
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"`{' '.join(step)}` failed: {done.stderr.strip().splitlines()[-1:]}"
    done = subprocess.run([python, "-c", check], capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"the argos venv does not import (or has CUDA torch): {done.stderr.strip().splitlines()[-1:]}"
    return python, ""


# --- the driver --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=3, help="copies of the document set (default 3)")
    parser.add_argument("--decode-tokens", type=int, default=0, help="fixed decoding length (default: 1.3 x mean input)")
    parser.add_argument("--threads", type=int, default=0, help="CTranslate2 threads (default: the cores available)")
    parser.add_argument("--no-argos", action="store_true", help="skip the argostranslate baseline")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--documents", help=argparse.SUPPRESS)
    parser.add_argument("--packages", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return

    from workbench.translate.build_package import build_benchmark_package
    from pipeline.translate.engine import cpu_count
    from pipeline.translate.packages import install_package_file, list_installed_packages

    threads = args.threads or cpu_count()
    with_numbers = benchmark_documents(args.copies)
    documents = without_numbers(with_numbers)
    sentences = _sentences(documents)
    words = sum(len(p.split()) for doc in documents for p in doc)
    n_sentences = sum(len(s) for s in sentences)
    with tempfile.TemporaryDirectory(prefix="newsflow-translate-bench-") as work:
        work_dir = Path(work)
        print(f"building the benchmark package (argos architecture, random weights) in {work_dir} ...", flush=True)
        corpus = [s for doc in sentences for s in doc]
        package = build_benchmark_package(work_dir, corpus=corpus)
        packages_dir = work_dir / "packages"
        os.environ["ARGOS_PACKAGES_DIR"] = str(packages_dir)
        install_package_file(package)
        model = list_installed_packages()[0]
        import sentencepiece

        tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(model.path / "sentencepiece.model"))
        pieces = [len(tokenizer.encode(s, out_type=str)) for s in corpus]
        decode = args.decode_tokens or round(1.3 * sum(pieces) / len(pieces))
        docs_file = work_dir / "documents.json"
        docs_file.write_text(json.dumps(documents, ensure_ascii=False), encoding="utf-8")
        numbers_file = work_dir / "documents-with-numbers.json"
        numbers_file.write_text(json.dumps(with_numbers, ensure_ascii=False), encoding="utf-8")

        runs: list[tuple[str, Path | None, str]] = []
        if not args.no_argos:
            print("preparing the argostranslate baseline venv (bench/.venv-argos) ...", flush=True)
            argos_python, why = ensure_argos_venv()
            runs.append(("argos per document", argos_python, why))
        runs += [("ctranslate2 per document", Path(sys.executable), ""), ("newsflow", Path(sys.executable), ""), ("ceiling", Path(sys.executable), ""),
                 (WITH_NUMBERS, Path(sys.executable), "")]
        worker_names = {"argos per document": "argos", "ctranslate2 per document": "per_document", "newsflow": "newsflow", "ceiling": "ceiling", WITH_NUMBERS: "newsflow"}

        results = run_each(runs, worker_names, docs_file, numbers_file, packages_dir, decode, threads)

    print_report(results, documents, words, n_sentences, pieces, decode, threads)


def run_each(runs: list[tuple[str, Path | None, str]], worker_names: dict[str, str], docs_file: Path, numbers_file: Path,
             packages_dir: Path, decode: int, threads: int) -> dict[str, dict]:
    """Each run in a process of its own (its Python, this file's --worker mode): its RESULT line, by label."""
    results: dict[str, dict] = {}
    for label, python, why in runs:
        if python is None:
            print(f"  {label}: not measured: {why}", flush=True)
            continue
        command = [
            str(python), str(Path(__file__).resolve()), "--worker", worker_names[label],
            "--documents", str(numbers_file if label == WITH_NUMBERS else docs_file),
            "--packages", str(packages_dir), "--decode-tokens", str(decode), "--threads", str(threads),
        ]
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        print(f"  running {label} ...", flush=True)
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            print(f"  {label}: failed:\n{done.stderr[-2000:]}", flush=True)
            continue
        results[label] = json.loads(lines[-1][len("RESULT ") :])
    return results


def print_report(results: dict[str, dict], documents: list, words: int, n_sentences: int, pieces: list[int], decode: int, threads: int) -> None:
    print()
    print(f"documents {len(documents)}, paragraphs {sum(len(d) for d in documents)}, sentences {n_sentences}, "
          f"source words {words}, input pieces {sum(pieces)} (mean {sum(pieces) / len(pieces):.1f}/sentence)")
    print(f"package: argos architecture (6+6 layers, d_model 512, 32k vocabulary, int8), random weights; "
          f"every run decodes each sentence to {decode} tokens, beam {BEAM_SIZE}, {threads} threads on {os.cpu_count()} cores")
    if "argos per document" in results:
        print("argos baseline: argostranslate 1.11 + CPU torch 2.13.0 in bench/.venv-argos; its sentence splitter "
              "(MiniSBD, downloads models) replaced by newsflow's offline splitter")
    print("numbers in the text replaced by a word for the timed comparison: random weights cannot copy a number, "
          "so newsflow's faithfulness check would send every sentence with one through again (the last row measures that)")
    for label in ("newsflow", WITH_NUMBERS):
        if label in results:
            print(f"{label}: {results[label]['model_inputs']} texts sent to the model for {n_sentences} sentences")
    print()
    newsflow = results.get("newsflow")
    ceiling = results.get("ceiling")
    print(f"| run | seconds | words/s | calls | load s | peak MB | newsflow is x faster | x of ceiling |")
    print(f"|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, result in results.items():
        speed = words / result["seconds"]
        versus = f"{result['seconds'] / newsflow['seconds']:.2f}" if newsflow else "-"
        of_ceiling = f"{ceiling['seconds'] / result['seconds']:.2f}" if ceiling else "-"
        print(f"| {label} | {result['seconds']:.2f} | {speed:.0f} | {result['engine_calls']} | "
              f"{result['load_seconds']:.2f} | {result['peak_mb']:.0f} | {versus} | {of_ceiling} |")


if __name__ == "__main__":
    main()
