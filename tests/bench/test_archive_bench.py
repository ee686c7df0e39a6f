"""The archive benchmark's generated articles (bench/archive_bench.py): distinct texts in many
languages, near copies where it says so, the same for the same index whatever the archive's size."""

import itertools

from bench.archive_bench import COPY_EVERY, archive_document, generated_article, vocabularies
from pipeline.duplicates import MIN_SIMILARITY, compared_article, similarity


def test_generated_articles_are_distinct_texts_in_many_languages_with_near_copies_where_said():
    vocabulary = vocabularies()
    articles = [generated_article(index, vocabulary) for index in range(400)]
    assert len({a["text"] for a in articles}) == len(articles)
    assert len({a["language"] for a in articles}) >= 40
    assert 0.25 <= sum(a["language"] == "en" for a in articles) / len(articles) <= 0.45
    compared = [compared_article(str(a["index"]), a["language"], a["text"]) for a in articles]
    copies = [a for a in articles if a["copy_of"] is not None]
    assert len(copies) == len(articles) // COPY_EVERY - 1
    for copy in copies:
        assert similarity(compared[copy["index"]].shingles, compared[copy["copy_of"]].shingles) >= 0.9
    originals = [c for a, c in zip(articles, compared) if a["copy_of"] is None][:120]
    alike = sum(similarity(x.shingles, y.shingles) >= MIN_SIMILARITY for x, y in itertools.combinations(originals, 2))
    assert alike == 0  # no two originals would be taken for copies of each other


def test_an_article_is_the_same_whatever_the_archive_size_but_its_dates():
    vocabulary = vocabularies()
    small, large = archive_document(77, 1_000, vocabulary), archive_document(77, 1_000_000, vocabulary)
    assert (small.text, small.language, small.source_path, small.text_signature) == (large.text, large.language, large.source_path, large.text_signature)
    assert small.published_at != large.published_at
