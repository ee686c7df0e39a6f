"""Any error a `newsflow` command ends with, as the one line a person reads: what was wrong (naming
the value given), what is allowed, and what to do. `flows.cli.main` prints it after `error:`."""

from __future__ import annotations

import errno
import re

# The pydantic error types Typer's option parsing raises: what is wrong with the value, and what to give.
_NEEDS = {
    "int_parsing": ("is not a whole number", "give one, e.g. 20"),
    "int_from_float": ("is not a whole number", "give one, e.g. 20"),
    "float_parsing": ("is not a number", "give one, e.g. 2.5"),
    "bool_parsing": ("is not true or false", "give true or false"),
    "greater_than_equal": ("is too small", "give at least {ge}"),
    "greater_than": ("is too small", "give more than {gt}"),
    "less_than_equal": ("is too large", "give at most {le}"),
    "less_than": ("is too large", "give less than {lt}"),
}
# Only strftime codes the CLI's date options use, shown as a person writes them.
_DATE_FORMAT_WORDS = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "hh", "%M": "mm", "%S": "ss"}
_DATE_EXAMPLE = {"%Y-%m-%d": "2025-01-31"}


def error_sentence(error: BaseException) -> str:
    """The whole actionable message for `error`, on one line (a SQL error: and the line of the query it is about)."""
    try:
        return _sentence(error)
    except Exception:  # a message is never worth a traceback: the error's own text, on its lines
        return _lines_of(str(error).strip() or type(error).__name__)


def _sentence(error: BaseException) -> str:
    from pydantic import ValidationError

    # Typer (0.29) parses with a Click of its own, whose exceptions only typer._click names
    # (typer exports BadParameter alone); `click.ClickException` does not catch them.
    from typer._click.exceptions import ClickException as TyperClickException

    if isinstance(error, TyperClickException):
        return _usage_sentence(error)
    if isinstance(error, ValidationError):
        return _validation_sentence(error)
    if isinstance(error, OSError) and error.errno is not None:
        return os_error_sentence(error)
    if isinstance(error, (KeyError, IndexError, AttributeError, TypeError, AssertionError, NameError)):
        # a mistake in newsflow, not in what was asked: its text alone ('xml') would mean nothing
        return (
            f"newsflow stopped on an internal error ({type(error).__name__}: {_lines_of(str(error)) or 'no detail'}): a bug in "
            "newsflow, not in what you asked; report it with the command you ran (--verbose, where a command has it, shows the traceback)"
        )
    return _duckdb_sentence(str(error).strip() or type(error).__name__)  # DuckDB's, also as others pass it on


def _lines_of(text: str) -> str:
    """A message of several lines as one, without link noise; a SQL error's `LINE n: ...` (the
    query's line it is about) stays on a second line, without the caret below it."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip() and not line.strip().startswith("For further information visit")]
    place = next((i for i, line in enumerate(lines) if re.match(r"LINE \d+:", line)), None)
    message = " ".join(lines if place is None else lines[:place])
    return message if place is None else f"{message}\n{lines[place]}"


def os_error_sentence(error: OSError) -> str:
    """`[Errno 17] File exists: 'x'` as a sentence: the file named, what is in the way, what to do."""
    where = error.filename if error.filename is not None else "the file"
    if error.errno == errno.ENOENT:
        return f"{where} does not exist: check the path"
    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        return f"a file is in the way of {where}: part of that path is a file where a folder is needed; choose another path or move the file"
    if error.errno == errno.EISDIR:
        return f"{where} is a folder: name a file"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"no permission for {where}: choose a path you can write, or change its permissions"
    if error.errno == errno.ENOSPC:
        return f"the disk holding {where} is full: free space there and run the command again"
    return f"{where}: {(error.strerror or type(error).__name__).lower()}"


def _usage_sentence(error) -> str:
    """A bad option or argument, as Typer's parser raised it: the option, the value, what it needs."""
    from pydantic import ValidationError

    from typer._click.exceptions import BadParameter, MissingParameter, NoSuchOption

    command = _command_path(getattr(error, "ctx", None))
    help_hint = f"see `{command} --help`"
    if isinstance(error, MissingParameter):
        name = error.param.name.upper() if error.param is not None and error.param.name else "a value"
        return f"{command} needs {name}: {help_hint}"
    if isinstance(error, NoSuchOption):
        close = f" (did you mean {' or '.join(sorted(error.possibilities))}?)" if error.possibilities else ""
        return f"{command} has no option {error.option_name}{close}: {help_hint}"
    if isinstance(error, BadParameter):
        option = _option_name(error.param)
        cause = error.__cause__
        if isinstance(cause, ValidationError) and cause.errors():
            problem = cause.errors()[0]
            given = problem.get("input")
            return f"{option} {given!s} {_needs(problem)}"
        return f"{option}: {_plain(error.message)}: {help_hint}"
    message = _plain(error.format_message())
    if "No such command" in message:
        return f"{message.rstrip('.')}: `{command} --help` lists the commands"
    return f"{message}: {help_hint}"


def _needs(problem: dict) -> str:
    """What is wrong with an option's value and what to give, from pydantic's error about it."""
    kind, message = problem.get("type", ""), str(problem.get("msg", ""))
    if kind in _NEEDS:
        wrong, give = _NEEDS[kind]
        try:
            return f"{wrong}: {give.format(**(problem.get('ctx') or {}))}"
        except (KeyError, IndexError):
            pass
    formats = re.findall(r"'(%[^']*)'", message.partition("does not match the formats")[2])  # Typer's date options
    if formats:
        written = " or ".join(_date_format_words(f) for f in formats)
        example = next((_DATE_EXAMPLE[f] for f in formats if f in _DATE_EXAMPLE), None)
        return f"is not a date: give it as {written}" + (f", e.g. {example}" if example else "")
    return f"is not allowed: {_plain(message)}"


def _date_format_words(strftime_format: str) -> str:
    for code, word in _DATE_FORMAT_WORDS.items():
        strftime_format = strftime_format.replace(code, word)
    return strftime_format


def _option_name(param) -> str:
    if param is None:
        return "a value"
    long_names = [opt for opt in getattr(param, "opts", []) if opt.startswith("--")]
    if long_names:
        return long_names[0]
    return getattr(param, "human_readable_name", None) or "a value"


def _command_path(ctx) -> str:
    """`newsflow sources add`, however the program was started (`python -m flows.cli` included)."""
    names = []
    while ctx is not None:
        if ctx.parent is not None and ctx.info_name:
            names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["newsflow", *reversed(names)])


def _validation_sentence(error) -> str:
    problems = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem.get("loc", ())) or error.title
        given = f" (got {problem['input']})" if "input" in problem and not isinstance(problem["input"], (dict, list)) else ""
        problems.append(f"{where}: {_plain(problem['msg'])}{given}")
    return f"invalid {error.title}: " + "; ".join(problems)


def _duckdb_sentence(text: str) -> str:
    """DuckDB's message on one line with its `Did you mean` and candidates; then the line of the
    query it is about (`LINE n: ...`). A suggestion to change a setting is replaced: the
    read paths lock DuckDB's settings, so `SET` is refused there."""
    not_duckdb = re.search(r'The file "([^"]+)" exists, but it is not a valid DuckDB database file', text)
    if not_duckdb:
        return f"{not_duckdb.group(1)} is not a DuckDB database: pass --warehouse a warehouse file (or none, for warehouse/news.duckdb)"
    depth = re.search(r"Max expression depth limit of (\d+) exceeded", text)
    if depth:
        return (
            f"the query nests expressions deeper than DuckDB's limit of {depth.group(1)}: write it flatter "
            "(an IN list instead of a long chain of OR or +, or steps in a WITH); the limit cannot be raised here"
        )
    return _lines_of(re.sub(r'\s*Use "SET [^"]*"[^.]*\.', "", text))


def _plain(message: str) -> str:
    """A library's message without pydantic's `Value error, ` and trailing full stop."""
    return message.removeprefix("Value error, ").strip().rstrip(".")
