"""`--help` that reads well: each docstring paragraph as one paragraph (Typer's rich help keeps a
docstring's line breaks, mid-sentence), and no type shown on a flag (`<bool>` says nothing a flag's
name does not)."""

from __future__ import annotations

import inspect


def readable_help(command):
    """`command` (the Click command Typer builds from the app) and every command under it, with
    their help reflowed into paragraphs and their flags shown without a type. Returns `command`."""
    if command.help:
        command.help = as_paragraphs(command.help)
    for param in command.params:
        _without_type(param)
    make_help_option = command.get_help_option  # made anew for each context: --help is a flag too
    command.get_help_option = lambda ctx: _without_type(make_help_option(ctx))
    for subcommand in getattr(command, "commands", {}).values():
        readable_help(subcommand)
    return command


def _without_type(param):
    if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
        param.metavar = ""  # Typer shows the metavar in place of the type: nothing
    return param


def as_paragraphs(text: str) -> str:
    """`text` with the lines of each paragraph joined: paragraphs are separated by a blank line, and
    one starting with \\b keeps its lines (Click's mark for preformatted text)."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
