"""The benchmark corpus (bench/corpus.py): distinct news articles in many languages, the same every time."""

from bench.corpus import build_corpus, corpus_file, corpus_shares, news_articles


def test_the_corpus_is_over_2000_distinct_articles_in_over_20_languages_of_every_kind():
    articles = news_articles()
    shares = corpus_shares(articles)
    assert shares["articles"] >= 2000 and shares["distinct_texts"] == shares["articles"]
    assert len({article.name for article in articles}) == len(articles)
    assert shares["languages"] >= 20
    assert set(shares["kinds"]) == {"text article", "HTML page", "page dump"}
    assert shares["kinds"]["HTML page"]["share"] + shares["kinds"]["page dump"]["share"] >= 0.3
    assert max(share["share"] for share in shares["language_shares"].values()) < 0.35


def test_every_prefix_mixes_kinds_and_languages_like_the_whole():
    first = news_articles()[:24]  # what the parallel-ingest and interrupt tests ingest
    assert {article.kind for article in first} == {"text article", "HTML page", "page dump"}
    assert "id" in {article.language for article in first}  # translation is exercised
    assert len({article.language for article in first}) >= 12


def test_past_its_size_the_corpus_repeats_as_copies_with_their_own_text(tmp_path):
    articles = news_articles()
    written = build_corpus(tmp_path / "drop", 12)
    assert [path.read_text(encoding="utf-8") for path in written] == [article.content for article in articles[:12]]
    # past the corpus's size, each copy of an article (a text, a page, a dump) is a text of its own
    kinds = {article.kind: index for index, article in enumerate(articles)}
    for index in kinds.values():
        copies = [corpus_file(index + len(articles) * turn, articles) for turn in (1, 2)]
        assert len({articles[index].content, *(content for _, content in copies)}) == 3
        assert all(name.endswith(articles[index].suffix) for name, _ in copies)
