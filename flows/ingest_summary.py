"""An ingest run's summary: its counts and notes, tallied batch by batch, as the CLI prints it and
as the run's Prefect artifact (Markdown) shows it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

from flows.ingest_stages import DocumentBatch
from pipeline.translate import install_hint, missing_model_languages
from pipeline.warehouse import InterruptedRun, RunCounts


@dataclass
class IngestSummary:
    run_id: str
    warehouse: str
    files_seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    joined: int = 0  # files that joined an article stored under another path (renamed, copied, syndicated)
    joined_this_run: int = 0  # of the unchanged, files that joined an article stored in this same run
    gone: list[str] = field(default_factory=list)  # places of stored articles no longer in a scanned folder
    derived: list[str] = field(default_factory=list)  # what changed in the duplicates and the search index
    indexed_as_written: int = 0  # articles indexed for search batch by batch
    pages_fetched: int = 0  # pages fetched from the web this run (they count among files_seen too)
    web_skipped_known: int = 0  # article URLs a feed or sitemap listed that are stored already: not fetched
    warc_skipped: Counter = field(default_factory=Counter)  # WARC records that are no HTML page, by why (not inputs, not rows)
    failing_sources: list[tuple[str, int, str]] = field(default_factory=list)  # web sources failing poll after poll
    web_notes: list[str] = field(default_factory=list)  # limits a poll reached, what the raw page store let go
    languages: dict[str, int] = field(default_factory=dict)
    translation_statuses: dict[str, int] = field(default_factory=dict)
    missing_models: dict[str, int] = field(default_factory=dict)
    rejections: list[tuple[str, str, str]] = field(default_factory=list)
    translation_failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    interrupted_runs: list[InterruptedRun] = field(default_factory=list)
    workers: str = ""  # where the stages ran
    batches_by_worker: dict[str, int] = field(default_factory=dict)  # "host:pid" -> batches it worked on
    seconds: float = 0.0
    status: str = "completed"

    def counts(self) -> RunCounts:
        return RunCounts(
            files_seen=self.files_seen,
            inserted=self.inserted,
            updated=self.updated,
            unchanged=self.unchanged,
            rejected=self.rejected,
        )

    def install_commands(self) -> list[str]:
        return [install_hint(language) for language in sorted(self.missing_models)]


def tally_batch(summary: IngestSummary, batch: DocumentBatch, counts) -> None:
    summary.inserted += counts.inserted
    summary.updated += counts.updated
    summary.unchanged += counts.unchanged + batch.unchanged
    summary.rejected += counts.rejected
    summary.joined += counts.joined
    summary.joined_this_run += counts.joined_this_run
    for stage, seconds in batch.stage_seconds.items():
        summary.stage_seconds[stage] = summary.stage_seconds.get(stage, 0.0) + seconds
    for worker in batch.ran_on:
        summary.batches_by_worker[worker] = summary.batches_by_worker.get(worker, 0) + 1
    docs = batch.docs
    for doc in docs:
        if doc.rejected:
            summary.rejections.append((doc.source_path, doc.rejection.reason, doc.rejection.detail))
            continue
        summary.languages[doc.language] = summary.languages.get(doc.language, 0) + 1
        status = doc.translation_status or "unknown"
        summary.translation_statuses[status] = summary.translation_statuses.get(status, 0) + 1
        if doc.translation_failure:
            summary.translation_failures.append((doc.source_path, doc.translation_failure.reason))
    for language, n in missing_model_languages(docs).items():
        summary.missing_models[language] = summary.missing_models.get(language, 0) + n


def interrupted_runs_note(runs: Sequence[InterruptedRun]) -> str:
    described = ", ".join(f"{run.run_id} ({run.articles_written} articles, {run.rejected} rejected)" for run in runs)
    return (
        f"{len(runs)} earlier run{'s' if len(runs) != 1 else ''} did not finish and {'are' if len(runs) != 1 else 'is'} "
        f"now marked interrupted: {described}; this run picked up the files {'they' if len(runs) != 1 else 'it'} had not reached."
    )


def gone_note(gone: Sequence[str]) -> str:
    return (
        f"{len(gone)} file{'s are' if len(gone) != 1 else ' is'} gone from the scanned folders since {'they were' if len(gone) != 1 else 'it was'} "
        "last seen: marked not present in article_sources; the articles stay (`newsflow prune` deletes articles with no file left)."
    )


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_line(summary: IngestSummary, *, started_at: datetime, why: str) -> str:
    """The run in one line, as `newsflow serve` prints it: when it started (local time), why,
    its counts and how long it took. `started_at` is naive UTC, as the warehouse stores it."""
    when = started_at.replace(tzinfo=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    line = (
        f"{when} {why}: {plural(summary.files_seen, 'file')} seen, {summary.inserted} inserted, {summary.updated} updated, "
        f"{summary.unchanged - summary.joined_this_run} unchanged, "
        + (f"{summary.joined_this_run} joined an article of this run, " if summary.joined_this_run else "")
        + f"{summary.rejected} rejected, {plural(summary.pages_fetched, 'page')} fetched, {summary.seconds:.1f} s"
    )
    if summary.status == "interrupted":
        return line + "; interrupted: what it stored is kept, the next run loads the rest"
    if summary.status != "completed":
        return line + f"; {summary.status}: its log is in the Prefect UI (run {summary.run_id})"
    return line


def summary_markdown(summary: IngestSummary) -> str:
    lines = [
        f"# newsflow ingest `{summary.run_id}`",
        "",
        f"Warehouse: `{summary.warehouse}` — status **{summary.status}** in {summary.seconds:.2f} s",
        "",
        "| files seen | inserted | updated | joined this run | unchanged | rejected |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {summary.files_seen} | {summary.inserted} | {summary.updated} | {summary.joined_this_run} | {summary.unchanged - summary.joined_this_run} | {summary.rejected} |",
        "",
        "| language | articles |",
        "|---|---:|",
        *[f"| {lang} | {n} |" for lang, n in sorted(summary.languages.items())],
        "",
        "| translation | articles |",
        "|---|---:|",
        *[f"| {status} | {n} |" for status, n in sorted(summary.translation_statuses.items())],
    ]
    if summary.interrupted_runs:
        lines += ["", interrupted_runs_note(summary.interrupted_runs)]
    if summary.warc_skipped:
        lines += ["", warc_skipped_note(summary.warc_skipped)]
    if summary.web_skipped_known:
        lines += ["", f"{summary.web_skipped_known} article page{'s' if summary.web_skipped_known != 1 else ''} listed by web sources {'are' if summary.web_skipped_known != 1 else 'is'} stored already: not fetched again."]
    for url, polls, detail in summary.failing_sources:
        lines += ["", f"Web source {url}: failing ({polls} polls in a row): {detail}"]
    lines += [line for note in summary.web_notes for line in ("", note)]
    if summary.joined:
        lines += ["", f"{summary.joined} file{'s' if summary.joined != 1 else ''} joined an article already stored under another path (see article_sources)."]
    if summary.gone:
        lines += ["", gone_note(summary.gone), ""]
        lines += [f"- `{path}`" for path in summary.gone[:50]]
    if summary.missing_models:
        lines += ["", "Install the missing translation models with:", ""]
        lines += [f"    {command}" for command in summary.install_commands()]
    if summary.translation_failures:
        lines += ["", "| translation failed | why, and what to do |", "|---|---|"]
        lines += [f"| `{path}` | {reason} |" for path, reason in summary.translation_failures]
    if summary.rejections:
        lines += ["", "| rejected file | reason | what to do |", "|---|---|---|"]
        lines += [f"| `{path}` | {reason} | {detail} |" for path, reason, detail in summary.rejections]
    lines += [f"\n{note}" for note in summary.derived]
    lines += ["", f"Stages ran on {summary.workers}.", "", "| stage | process seconds |", "|---|---:|"]
    lines += [f"| {stage} | {seconds:.3f} |" for stage, seconds in summary.stage_seconds.items()]
    if len(summary.batches_by_worker) > 1:
        lines += ["", "| worker process | batches |", "|---|---:|"]
        lines += [f"| `{worker}` | {n} |" for worker, n in sorted(summary.batches_by_worker.items())]
    return "\n".join(lines)


def warc_skipped_note(skipped: Counter) -> str:
    """The WARC records that are no page to extract, by why (they are neither articles nor rejections)."""
    total = sum(skipped.values())
    reasons = "; ".join(f"{count} {why}" for why, count in sorted(skipped.items()))
    return f"{total} WARC record{'s' if total != 1 else ''} skipped, not HTML pages: {reasons}"
