"""Build a synthetic argos package: a real CTranslate2 Transformer with seeded random weights.

No Indonesian-English package is reachable offline, so tests and the benchmark build their own.
The weights are random, so the output is gibberish, but it is deterministic and the model has
the same layout (and, with `REALISTIC_SHAPE`, the same size and cost) as a real argos package.
No torch: the spec is filled with numpy arrays, the way ctranslate2's own converters do.

    from workbench.translate.build_package import build_tiny_package, build_benchmark_package
    path = build_tiny_package(tmp_dir)        # 2+2 layers, d_model 64: about a second to build
    path = build_benchmark_package(tmp_dir)   # argos's real architecture, int8, 32k vocabulary
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ModelShape:
    encoder_layers: int
    decoder_layers: int
    d_model: int
    num_heads: int
    ffn_dim: int
    vocab_size: int  # SentencePiece vocabulary target (training may yield fewer pieces)
    model_vocab_size: int | None = None  # pad the CTranslate2 vocabulary up to this size


# The architecture of argos's translate-* packages (OpenNMT-py transformer base).
REALISTIC_SHAPE = ModelShape(6, 6, 512, 8, 2048, vocab_size=8000, model_vocab_size=32000)
TINY_SHAPE = ModelShape(2, 2, 64, 4, 128, vocab_size=500)

# Padding pieces look like words ("▁w123") so that decoded gibberish has word-like spacing.
_PADDING_TOKEN = "\u2581w{}"


def train_sentencepiece(corpus: Iterable[str], vocab_size: int) -> bytes:
    """Train a SentencePiece model in memory, deterministically (one thread, no sampling)."""
    import sentencepiece as spm

    lines = [line.strip() for line in corpus if line.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=1.0,
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    return model.getvalue()


def sentencepiece_vocabulary(model_bytes: bytes) -> list[str]:
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_proto=model_bytes)
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


def _linear(layer, out_dim: int, in_dim: int, rng: np.random.Generator) -> None:
    layer.weight = rng.normal(0.0, in_dim**-0.5, (out_dim, in_dim)).astype(np.float32)
    layer.bias = rng.normal(0.0, 0.02, (out_dim,)).astype(np.float32)


def _layer_norm(norm, dim: int) -> None:
    norm.gamma = np.ones(dim, dtype=np.float32)
    norm.beta = np.zeros(dim, dtype=np.float32)


def _transformer_spec(shape: ModelShape, vocabulary: list[str], seed: int):
    from ctranslate2.specs import transformer_spec

    rng = np.random.default_rng(seed)
    d, ffn, vocab = shape.d_model, shape.ffn_dim, len(vocabulary)
    spec = transformer_spec.TransformerSpec.from_config(
        (shape.encoder_layers, shape.decoder_layers), shape.num_heads
    )
    spec.config.decoder_start_token = "<s>"

    encoder, decoder = spec.encoder, spec.decoder
    encoder.embeddings[0].weight = rng.normal(0.0, d**-0.5, (vocab, d)).astype(np.float32)
    decoder.embeddings.weight = rng.normal(0.0, d**-0.5, (vocab, d)).astype(np.float32)
    _layer_norm(encoder.layer_norm, d)
    _layer_norm(decoder.layer_norm, d)
    for layer in encoder.layer:
        _layer_norm(layer.self_attention.layer_norm, d)
        _linear(layer.self_attention.linear[0], 3 * d, d, rng)  # fused query, key, value
        _linear(layer.self_attention.linear[1], d, d, rng)
        _layer_norm(layer.ffn.layer_norm, d)
        _linear(layer.ffn.linear_0, ffn, d, rng)
        _linear(layer.ffn.linear_1, d, ffn, rng)
    for layer in decoder.layer:
        _layer_norm(layer.self_attention.layer_norm, d)
        _linear(layer.self_attention.linear[0], 3 * d, d, rng)
        _linear(layer.self_attention.linear[1], d, d, rng)
        _layer_norm(layer.attention.layer_norm, d)
        _linear(layer.attention.linear[0], d, d, rng)  # query
        _linear(layer.attention.linear[1], 2 * d, d, rng)  # fused key, value
        _linear(layer.attention.linear[2], d, d, rng)
        _layer_norm(layer.ffn.layer_norm, d)
        _linear(layer.ffn.linear_0, ffn, d, rng)
        _linear(layer.ffn.linear_1, d, ffn, rng)
    _linear(decoder.projection, vocab, d, rng)

    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    return spec


def build_argos_package(
    out_path: Path,
    corpus: Iterable[str],
    *,
    shape: ModelShape = TINY_SHAPE,
    from_code: str = "id",
    to_code: str = "en",
    from_name: str = "Indonesian",
    to_name: str = "English",
    package_version: str = "1.9",
    seed: int = 1234,
) -> Path:
    """Write an `.argosmodel` zip at `out_path` and return it.

    The zip has argos's layout: one folder `translate-<from>_<to>-<version>/` holding
    `metadata.json`, the CTranslate2 `model/` folder (int8) and `sentencepiece.model`.
    """
    sp_model = train_sentencepiece(corpus, shape.vocab_size)
    vocabulary = sentencepiece_vocabulary(sp_model)
    if shape.model_vocab_size and shape.model_vocab_size > len(vocabulary):
        vocabulary += [_PADDING_TOKEN.format(i) for i in range(shape.model_vocab_size - len(vocabulary))]
    spec = _transformer_spec(shape, vocabulary, seed)
    spec.validate()
    spec.optimize(quantization="int8")

    return write_argos_package(
        out_path, spec, sp_model, from_code=from_code, to_code=to_code, from_name=from_name, to_name=to_name,
        package_version=package_version,
    )


def write_argos_package(
    out_path: Path,
    spec,
    sp_model: bytes,
    *,
    from_code: str,
    to_code: str,
    package_version: str,
    from_name: str = "",
    to_name: str = "",
) -> Path:
    """Zip a CTranslate2 spec and a SentencePiece model the way argos packages are laid out."""
    root = f"translate-{from_code}_{to_code}-{package_version.replace('.', '_')}"
    metadata = {
        "package_version": package_version,
        "argos_version": "1.0",
        "from_code": from_code,
        "from_name": from_name or from_code,
        "to_code": to_code,
        "to_name": to_name or to_code,
        "links": [],
    }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        model_dir = Path(work) / "model"
        model_dir.mkdir()
        spec.save(str(model_dir))
        with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_STORED) as archive:
            # Fixed timestamps and order keep the archive byte-identical across builds.
            def add(name: str, data: bytes) -> None:
                info = zipfile.ZipInfo(f"{root}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
                archive.writestr(info, data)

            add("metadata.json", json.dumps(metadata, indent=2).encode())
            add("sentencepiece.model", sp_model)
            for file in sorted(model_dir.iterdir()):
                add(f"model/{file.name}", file.read_bytes())
        shutil.rmtree(model_dir, ignore_errors=True)
    return out_path


# A short bilingual corpus for the SentencePiece model of test packages.
CORPUS = """\
Presiden Joko Widodo meresmikan jalan tol baru di Jawa Tengah pada hari Senin.
Pemerintah berencana membangun lebih banyak jembatan dan pelabuhan tahun depan.
Menurut Badan Pusat Statistik, inflasi bulan ini mencapai 2,1 persen.
Harga beras di pasar tradisional naik sejak awal bulan.
Warga Jakarta diminta menghemat air selama musim kemarau panjang.
Banjir melanda beberapa desa di Kalimantan Selatan setelah hujan deras.
Kementerian Kesehatan mengimbau masyarakat untuk mendapatkan vaksin.
Tim nasional sepak bola Indonesia menang dua gol tanpa balas.
Bank Indonesia mempertahankan suku bunga acuan pada level enam persen.
Para petani kopi di Sumatra Utara menikmati panen yang melimpah.
Gunung berapi di Sulawesi Utara kembali mengeluarkan abu vulkanik.
Sekolah-sekolah di Bandung mulai menerapkan kurikulum baru.
Dr. Siti Rahmawati mengatakan bahwa penelitian ini penting bagi masa depan.
Kantor itu terletak di Jl. Sudirman No. 5, Jakarta Pusat.
The president inaugurated a new toll road in Central Java on Monday.
The government plans to build more bridges and ports next year.
According to the statistics agency, inflation this month reached 2.1 percent.
The price of rice in traditional markets has risen since the start of the month.
Residents of Jakarta were asked to save water during the long dry season.
Floods hit several villages in South Kalimantan after heavy rain.
The health ministry urged people to get vaccinated.
The national football team won two goals to nil.
The central bank kept its benchmark interest rate at six percent.
Coffee farmers in North Sumatra enjoyed an abundant harvest.
A volcano in North Sulawesi spewed volcanic ash again.
Schools in Bandung began to apply the new curriculum.
Dr. Smith said that this research matters for the future.
The office is located on Sudirman Street, Central Jakarta.
"""


def corpus_lines() -> list[str]:
    return [line for line in CORPUS.splitlines() if line.strip()]


def build_tiny_package(directory: Path, *, version: str = "1.9", seed: int = 1234, from_code: str = "id") -> Path:
    """A 2+2-layer, d_model 64 package: fast enough to build once per test session."""
    return build_argos_package(
        Path(directory) / f"translate-{from_code}_en-{version}.argosmodel",
        corpus_lines(),
        shape=TINY_SHAPE,
        from_code=from_code,
        package_version=version,
        seed=seed,
    )


def build_benchmark_package(directory: Path, *, corpus: list[str] | None = None, seed: int = 1234) -> Path:
    """A package with argos's real architecture (6+6 layers, d_model 512, 8 heads, ffn 2048,
    int8, 32k-entry vocabulary): it costs what the real translate-id_en costs per token.

    Pass `corpus` (e.g. the benchmark's own documents) to train a SentencePiece model whose
    token granularity is closer to the real one than the short built-in corpus gives.
    """
    return build_argos_package(
        Path(directory) / "translate-id_en-1.9.argosmodel",
        corpus or corpus_lines(),
        shape=REALISTIC_SHAPE,
        package_version="1.9",
        seed=seed,
    )
