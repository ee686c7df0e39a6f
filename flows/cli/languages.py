"""Languages: `newsflow detect` (the language stage on any text), `newsflow models list|install`
(argos translation models) and `newsflow translate --pending` (after a model was installed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from flows.cli.shared import (
    INTERRUPTED_NOTE,
    CommandError,
    WarehouseOption,
    configure_prefect_for_a_run,
    console,
    stop_on_signals_saying,
    the_work_is_done,
    warehouse_file,
)


def detect(
    text: Optional[str] = typer.Argument(None, help="Text to identify (default: --file, or standard input)."),
    file: Optional[Path] = typer.Option(None, "--file", help="Read the text from this file."),
    lines: bool = typer.Option(False, "--lines", help="One text per line."),
    output_format: str = typer.Option("table", "--format", "-f", help="table or jsonl."),
) -> None:
    """Identify the language of texts with exactly the pipeline's language stage."""
    from pipeline.language import shared_identifier

    if output_format not in ("table", "jsonl"):
        raise CommandError(f"unknown --format {output_format!r}: use table or jsonl")
    if text is not None:
        source = text
    elif file is not None:
        source = file.read_text(encoding="utf-8", errors="replace")
    else:
        source = sys.stdin.read()
    texts = source.splitlines() if lines else [source]
    identifier = shared_identifier()
    guesses = [identifier.identify(item) for item in texts]
    if output_format == "jsonl":
        for guess in guesses:
            sys.stdout.write(json.dumps({"language": guess.language, "confidence": round(guess.confidence, 4)}) + "\n")
        return
    table = Table(show_edge=False)
    for column in ("language", "confidence", "text"):
        table.add_column(column, overflow="fold")
    for item, guess in zip(texts, guesses):
        table.add_row(guess.language, f"{guess.confidence:.3f}", item[:80])
    console.print(table)


models_app = typer.Typer(help="List and install argos translation models.", no_args_is_help=True)


@models_app.command("list")
def models_list() -> None:
    """List installed translation models."""
    from pipeline.translate import list_installed_packages

    models = list_installed_packages()
    if not models:
        console.print("No translation models installed. Install one with: newsflow models install LANG [--file PKG.argosmodel]")
        return
    table = Table(show_edge=False)
    for column in ("from", "to", "package", "version", "path"):
        table.add_column(column)
    for model in models:
        table.add_row(model.from_code, model.to_code, model.name, model.version, str(model.path))
    console.print(table)


@models_app.command("install")
def models_install(
    languages: list[str] = typer.Argument(None, help="Source language codes, e.g. id (translating to English)."),
    file: Optional[list[Path]] = typer.Option(None, "--file", help="Install from a .argosmodel file instead of the index."),
    index_url: Optional[str] = typer.Option(None, "--index-url", help="Package index URL or local mirror folder."),
) -> None:
    """Install translation models from the argos package index or from files."""
    from pipeline.translate import install_from_index, install_package_file
    from pipeline.translate.packages import package_file_languages

    if not languages and not file:
        raise CommandError("name a language (e.g. `newsflow models install id`) or a file with --file PKG.argosmodel")
    if file:
        # With --file, the files are the install: a named language must be one of theirs (no index).
        covered = {path: package_file_languages(path) for path in file}
        uncovered = [lang for lang in languages or [] if lang not in {source for source, _ in covered.values()}]
        if uncovered:
            holds = ", ".join(f"{path.name} translates {source}→{target}" for path, (source, target) in covered.items())
            raise CommandError(
                f"--file covers no {', '.join(uncovered)} model ({holds}); nothing was installed: "
                f"pass the package file for {', '.join(uncovered)}, or install it from the index without --file"
            )
        installed = [install_package_file(path) for path in file]
    else:
        installed = [install_from_index(language, index_url=index_url) for language in languages]
    for model in installed:
        console.print(f"installed {model.name} {model.version} ({model.from_code} → {model.to_code}) at {model.path}")


def translate(
    pending: bool = typer.Option(False, "--pending", help="Translate articles stored without a translation."),
    warehouse: Optional[Path] = WarehouseOption,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Fill in translations after a model was installed."""
    if not pending:
        raise CommandError("nothing to do: use `newsflow translate --pending`")
    stop_on_signals_saying(INTERRUPTED_NOTE)
    configure_prefect_for_a_run(verbose)
    from flows.translate_pending import translate_pending
    from pipeline.translate.packages import install_hint

    result = translate_pending(warehouse=str(warehouse_file(warehouse)))
    the_work_is_done("the translations had finished: everything is stored.")
    console.print(f"translated {result.translated} of {result.pending} pending article{'s' if result.pending != 1 else ''}", highlight=False)
    for language, count in sorted(result.still_missing.items()):
        console.print(
            f"{count} article{'s' if count != 1 else ''} in {language} still {'have' if count != 1 else 'has'} no translation model: "
            f"install it with `{install_hint(language)}`, then run `newsflow translate --pending` again",
            highlight=False,
            markup=False,
        )
