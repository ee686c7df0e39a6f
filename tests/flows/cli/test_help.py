"""`newsflow ... --help` of every command reads well: its text in paragraphs (never a line broken
mid-sentence), a type only on options that take a value, and a description for every option."""

from __future__ import annotations

import os
import re

import pytest

from tests.conftest import newsflow


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the CLI, as the words that name it (the root is ())."""
    import typer.main

    from flows.cli import app

    paths = []

    def walk(command, path):
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, path + (name,))

    walk(typer.main.get_command(app), ())
    return paths


def click_command(path: tuple[str, ...]):
    import typer.main

    from flows.cli import app

    command = typer.main.get_command(app)
    for word in path:
        command = command.commands[word]
    return command


def words(text: str) -> str:
    """Text as Rich shows it, whitespace collapsed (Rich's markup brackets aside)."""
    return " ".join(text.split())


PATHS = command_paths()


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "newsflow" for p in PATHS])
def test_help_is_in_paragraphs_with_types_only_where_they_help_and_every_option_described(path):
    env = dict(os.environ, TERMINAL_WIDTH="2000")  # wide: a paragraph is one line unless the text breaks it
    shown = newsflow([*path, "--help"], env=env).stdout
    lines = [line.strip(" │") for line in shown.splitlines()]
    command = click_command(path)

    assert "<bool>" not in shown, shown
    for paragraph in re.split(r"\n\s*\n", (command.help or "").strip()):
        assert any(words(paragraph) in words(line) for line in lines), f"not one paragraph: {paragraph!r}\n{shown}"
    for sub_name, sub in getattr(command, "commands", {}).items():
        first = re.split(r"\n\s*\n", (sub.help or "").strip())[0]
        (row,) = [line for line in lines if line.startswith(sub_name + " ")]
        assert words(first) in words(row), f"{sub_name}: {first!r} broken in the list of commands\n{shown}"
    for param in command.params:
        name = next((opt for opt in param.opts if opt.startswith("--")), None)
        if name is None or param.param_type_name != "option":
            continue
        assert param.help, f"{' '.join(path)} {name} has no description"
        (row,) = [line for line in lines if re.match(rf"{re.escape(name)}(\s|,|$)", line)]
        assert words(param.help)[:40] in words(row), f"{name}: {row}"
