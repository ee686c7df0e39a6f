import subprocess
import sys

import numpy as np

from pipeline.language import MALAY_INDONESIAN_MODEL, LanguageIdentifier, MalayIndonesianModel, malay_indonesian_features
from workbench import CHECKOUT_ROOT
from workbench.language_training import (
    ParallelSentence,
    cross_validate,
    fit_scales,
    fold_split,
    read_parallel_sentences,
    train_model,
)


def test_folds_keep_a_sentence_and_its_translation_on_the_same_side():
    sentences = [ParallelSentence(language, line, f"{language} {line}") for line in range(1, 24) for language in ("ms", "id")]
    tested_everywhere = []
    for training, tested in fold_split(sentences, 5):
        assert not {sentences[i].line for i in training} & {sentences[i].line for i in tested}
        assert sorted(training + tested) == list(range(len(sentences)))
        tested_everywhere += tested
    assert sorted(tested_everywhere) == list(range(len(sentences)))  # every sentence scored exactly once


def test_the_committed_weights_are_what_the_training_script_writes():
    sentences = read_parallel_sentences()
    assert len(sentences) == 2000 and {s.language for s in sentences} == {"ms", "id"}
    trained = train_model([(s.language, malay_indonesian_features(s.text)) for s in sentences], [s.line for s in sentences])
    assert trained.weights == MalayIndonesianModel.load().weights


def test_cross_validation_scores_sentences_the_model_never_saw():
    sentences = [s for s in read_parallel_sentences() if s.line <= 300]
    result = cross_validate(sentences, folds=3)
    assert result["count"] == 600
    assert result["per_language"]["id"] > 0.9 and result["per_language"]["ms"] > 0.8
    assert sum(result["length_counts"].values()) == 600
    # a model that had seen the lines it scores misses fewer of them: cross-validation did not
    seen = train_model([(s.language, malay_indonesian_features(s.text)) for s in sentences], [s.line for s in sentences])
    identifier = LanguageIdentifier(malay_indonesian=seen)
    seen_misses = sum(identifier.identify(s.text).language != s.language for s in sentences)
    assert seen_misses < len(result["misses"]) < 100


def test_scales_are_fitted_per_feature_kind_on_held_out_scores():
    # labels drawn from sigmoid(0.3 * words + 0.05 * letters): the fit recovers both factors
    generator = np.random.default_rng(7)
    words, letters = generator.normal(0, 6, 4000), generator.normal(0, 30, 4000)
    malay = generator.random(4000) < 1 / (1 + np.exp(-(0.3 * words + 0.05 * letters)))
    scored = [("ms" if m else "id", {"words": w, "letters": c}) for m, w, c in zip(malay, words, letters)]
    scales = fit_scales(scored)
    assert abs(scales["words"] - 0.3) < 0.05 and abs(scales["letters"] - 0.05) < 0.01


def test_a_letter_n_gram_weighs_less_than_a_word():
    weights = MalayIndonesianModel.load().weights
    letters = [abs(w) for f, w in weights.items() if f.startswith("c ")]
    words = [abs(w) for f, w in weights.items() if f.startswith("w ")]
    assert max(letters) < max(words) and np.median(letters) < np.median(words)


def test_the_training_command_writes_the_shipped_weights_byte_for_byte(tmp_path):
    written = tmp_path / "malay_indonesian_model.json.gz"
    command = [sys.executable, "-m", "workbench.language_training", "--no-cross-validation", "--output", str(written)]
    subprocess.run(command, cwd=CHECKOUT_ROOT, check=True, capture_output=True, timeout=120)
    assert written.read_bytes() == MALAY_INDONESIAN_MODEL.read_bytes()
