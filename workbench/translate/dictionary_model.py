"""A hand-built CTranslate2 transformer that translates word by word through a dictionary.

Random weights (see `build_package`) give gibberish, which cannot show whether a number, a URL
or a name survives translation. This model is a real CTranslate2 transformer whose weights are
set by hand so that its output means something: output token t is the dictionary translation
of source token t (or the token itself when the dictionary has no entry). Its faults are
chosen too: map a digit to another digit and it behaves like a model that garbles numbers.

How the weights do it (d_model = V + P, one attention head, pre-norm layers):

- dimensions [0, V) hold a one-hot code of the token, [V, V + P) a one-hot code of the position
  (explicit position encodings, so tokens and positions never mix);
- the encoder's layers add nothing (zero output projections), so its output is the layer-normed
  token + position code;
- decoder embeddings are zero, so the decoder state at step t is its position code alone; its
  cross-attention query and the encoder keys read only the position dimensions, so step t
  attends to source position t (the source gets an end-of-sentence token, which maps to
  itself and stops decoding); the values carry the token dimensions across;
- the output projection is the dictionary: row j sums the token dimensions of every source
  token that translates to target token j.

Layer norms only rescale these codes (every row has the same mean and norm), so the argmax is
exact and decoding is deterministic. The SentencePiece model is written by hand too (a small
protobuf encoder below; the `protobuf` package is not needed): one piece per word of the
corpus, with and without the word-boundary marker, plus every character, so known words stay
whole and anything else is spelt out character by character, and copied.
"""

from __future__ import annotations

import re
import string
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from workbench.translate.build_package import write_argos_package

WORD_MARK = "\u2581"
MAX_POSITIONS = 256  # > the engine's 200-token input limit + the end-of-sentence token
_SPECIALS = ("<unk>", "<s>", "</s>")
_WORD = re.compile(r"[^\W\d_]+")
_BASE_CHARACTERS = string.ascii_letters + string.digits + string.punctuation + "\u201c\u201d\u2018\u2019\u2013\u2014\u2026\u00a0"


# --- a minimal protobuf writer for sentencepiece's ModelProto --------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _field_int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _field_float(field: int, value: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", value)


_NORMAL, _UNKNOWN, _CONTROL = 1, 2, 3  # sentencepiece's SentencePiece.Type


def sentencepiece_model(pieces: list[tuple[str, float]]) -> bytes:
    """A unigram SentencePiece model over `pieces` (piece, score), with no normalisation.

    The first three pieces are <unk>, <s>, </s>; Viterbi segmentation prefers the highest
    total score, so give whole words a better score than the characters that spell them.
    """
    entries = [(name, 0.0, kind) for name, kind in zip(_SPECIALS, (_UNKNOWN, _CONTROL, _CONTROL))]
    entries += [(piece, score, _NORMAL) for piece, score in pieces]
    body = b"".join(
        _field_bytes(1, _field_bytes(1, piece.encode()) + _field_float(2, score) + _field_int(3, kind))
        for piece, score, kind in entries
    )
    trainer_spec = _field_int(3, 1) + _field_int(4, len(entries))  # model_type UNIGRAM, vocab_size
    # name "identity"; add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces
    normalizer_spec = _field_bytes(1, b"identity") + _field_int(3, 1) + _field_int(4, 1) + _field_int(5, 1)
    return body + _field_bytes(2, trainer_spec) + _field_bytes(3, normalizer_spec)


# --- vocabulary -------------------------------------------------------------------------------


def word_pieces(corpus: Iterable[str], dictionary: Mapping[str, str]) -> list[tuple[str, float]]:
    """Pieces for every word of the corpus and the dictionary, and every character."""
    words: dict[str, None] = {}
    characters: dict[str, None] = dict.fromkeys(_BASE_CHARACTERS)
    texts = [*corpus, *dictionary.keys(), *dictionary.values()]
    for text in texts:
        for word in _WORD.findall(text):
            words.setdefault(word, None)
            words.setdefault(word[:1].upper() + word[1:], None)
        for char in text:
            if not char.isspace():
                characters.setdefault(char, None)
    pieces: dict[str, float] = {}
    for word in words:
        if len(word) > 1:
            pieces.setdefault(WORD_MARK + word, -1.0)
            pieces.setdefault(word, -1.0)
    pieces.setdefault(WORD_MARK, -4.0)
    for char in characters:
        pieces.setdefault(WORD_MARK + char, -2.0)
        pieces.setdefault(char, -2.0)
    return list(pieces.items())


def piece_translations(dictionary: Mapping[str, str], vocabulary: list[str]) -> list[int]:
    """For each vocabulary id, the id of its translation (itself when the dictionary has none).

    A dictionary entry "selasa" -> "tuesday" also maps "Selasa" -> "Tuesday", with and without
    the word-boundary marker; entries for single characters (e.g. "7" -> "1") map the
    character pieces.
    """
    ids = {piece: index for index, piece in enumerate(vocabulary)}
    mapping = list(range(len(vocabulary)))
    entries: dict[str, str] = {}
    for source, target in dictionary.items():
        entries.setdefault(source[:1].upper() + source[1:], target[:1].upper() + target[1:])
    entries.update(dictionary)  # an explicit entry wins over a derived capitalised one
    for source, target in entries.items():
        for marker in ("", WORD_MARK):
            if marker + source in ids and marker + target in ids:
                mapping[ids[marker + source]] = ids[marker + target]
    return mapping


# --- the transformer --------------------------------------------------------------------------


def _zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


def _identity_norm(norm, dim: int) -> None:
    norm.gamma = np.ones(dim, dtype=np.float32)
    norm.beta = _zeros(dim)


def _silent_linear(layer, out_dim: int, in_dim: int) -> None:
    layer.weight = _zeros(out_dim, in_dim)
    layer.bias = _zeros(out_dim)


def dictionary_transformer_spec(vocabulary: list[str], translations: list[int], *, query_scale: float = 2.0):
    from ctranslate2.specs import transformer_spec

    vocab, positions = len(vocabulary), MAX_POSITIONS
    d = vocab + positions
    ffn = 8
    spec = transformer_spec.TransformerSpec.from_config((1, 1), 1)
    spec.config.decoder_start_token = "<s>"
    spec.config.add_source_eos = True  # the source's </s> is copied, which ends decoding

    position_codes = _zeros(positions, d)
    position_codes[np.arange(positions), vocab + np.arange(positions)] = 1.0

    encoder, decoder = spec.encoder, spec.decoder
    encoder.scale_embeddings = False
    decoder.scale_embeddings = False
    source_embeddings = _zeros(vocab, d)
    source_embeddings[np.arange(vocab), np.arange(vocab)] = 1.0
    encoder.embeddings[0].weight = source_embeddings
    encoder.position_encodings.encodings = position_codes
    decoder.embeddings.weight = _zeros(vocab, d)
    decoder.position_encodings.encodings = position_codes.copy()
    _identity_norm(encoder.layer_norm, d)
    _identity_norm(decoder.layer_norm, d)

    (enc_layer,) = encoder.layer
    _identity_norm(enc_layer.self_attention.layer_norm, d)
    _silent_linear(enc_layer.self_attention.linear[0], 3 * d, d)
    _silent_linear(enc_layer.self_attention.linear[1], d, d)
    _identity_norm(enc_layer.ffn.layer_norm, d)
    _silent_linear(enc_layer.ffn.linear_0, ffn, d)
    _silent_linear(enc_layer.ffn.linear_1, d, ffn)

    (dec_layer,) = decoder.layer
    _identity_norm(dec_layer.self_attention.layer_norm, d)
    _silent_linear(dec_layer.self_attention.linear[0], 3 * d, d)
    _silent_linear(dec_layer.self_attention.linear[1], d, d)
    _identity_norm(dec_layer.ffn.layer_norm, d)
    _silent_linear(dec_layer.ffn.linear_0, ffn, d)
    _silent_linear(dec_layer.ffn.linear_1, d, ffn)

    cross = dec_layer.attention
    _identity_norm(cross.layer_norm, d)
    position_dims = vocab + np.arange(positions)
    token_dims = np.arange(vocab)
    query = _zeros(d, d)
    query[position_dims, position_dims] = query_scale
    cross.linear[0].weight, cross.linear[0].bias = query, _zeros(d)
    key_value = _zeros(2 * d, d)
    key_value[position_dims, position_dims] = 1.0  # keys: the source position
    key_value[d + token_dims, token_dims] = 1.0  # values: the source token
    cross.linear[1].weight, cross.linear[1].bias = key_value, _zeros(2 * d)
    output = _zeros(d, d)
    output[token_dims, token_dims] = 1.0
    cross.linear[2].weight, cross.linear[2].bias = output, _zeros(d)

    projection = _zeros(vocab, d)
    projection[np.asarray(translations), token_dims] = 1.0
    decoder.projection.weight, decoder.projection.bias = projection, _zeros(vocab)

    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    spec.validate()
    spec.optimize(quantization="int8")
    return spec


def build_dictionary_package(
    out_path: Path,
    dictionary: Mapping[str, str],
    corpus: Iterable[str] = (),
    *,
    from_code: str = "id",
    to_code: str = "en",
    package_version: str = "1.0",
) -> Path:
    """Write an `.argosmodel` whose model translates word by word through `dictionary`.

    Words of `corpus` (and of the dictionary) become whole pieces; a word with no entry is
    copied. The build is deterministic and takes well under a second for a few thousand words.
    """
    pieces = word_pieces(corpus, dictionary)
    sp_model = sentencepiece_model(pieces)
    vocabulary = [*_SPECIALS, *(piece for piece, _ in pieces)]
    spec = dictionary_transformer_spec(vocabulary, piece_translations(dictionary, vocabulary))
    return write_argos_package(out_path, spec, sp_model, from_code=from_code, to_code=to_code, package_version=package_version)
