"""News from the web: feeds, sitemaps and pages, fetched politely (see `poll.poll_sources`)."""

from pipeline.web.fetch import FetchSettings
from pipeline.web.poll import FetchedPage, FetchFailure, PollResult, SourcePoll, detect_source, poll_sources, record_polls

__all__ = [
    "FetchFailure",
    "FetchSettings",
    "FetchedPage",
    "PollResult",
    "SourcePoll",
    "detect_source",
    "poll_sources",
    "record_polls",
]
