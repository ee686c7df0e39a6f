from pipeline.language import LanguageIdentifier, MalayIndonesianModel, malay_indonesian_features
from pipeline.language_training import (
    ParallelSentence,
    cross_validate,
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
