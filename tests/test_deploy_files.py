"""The container deployment files, checked without a Docker engine.

- docker-compose.yml is interpolated from .env.example the way Compose does it and validated
  against the Compose Specification's JSON schema (vendored: tests/data/compose-spec.json);
  then the things the schema cannot know: restart policies, healthchecks, mounts, the API URL,
  no literal secret.
- The Dockerfile is read by the small parser below: known instructions, well-formed line
  continuations, ARG/ENV declared before use (with Docker's stage scoping), exec-form JSON,
  no torch, and pip install steps that mirror the Makefile's.
- .dockerignore is matched the way Docker matches it: what the Dockerfile copies is in the
  build context, secrets and local state are not.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import posixpath
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
COMPOSE_PATH = ROOT / "docker-compose.yml"
DOCKERFILE_PATH = ROOT / "Dockerfile"
DOCKERIGNORE_PATH = ROOT / ".dockerignore"
ENV_EXAMPLE_PATH = ROOT / ".env.example"
MAKEFILE_PATH = ROOT / "Makefile"
PYPROJECT_PATH = ROOT / "pyproject.toml"
COMPOSE_SCHEMA_PATH = DATA / "compose-spec.json"


# --------------------------------------------------------------------------- .env files


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as Compose reads an env file: comments, `export`, quotes, inline ` #`."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"line {number}: not KEY=VALUE: {raw!r}")
        value = value.strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            end = value.find(quote, 1)
            if end < 0:
                raise ValueError(f"line {number}: unterminated quote in {raw!r}")
            value = value[1:end]
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        values[key] = value
    return values


# ------------------------------------------------------------ Compose interpolation


class InterpolationError(ValueError):
    pass


_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", re.DOTALL)
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"unclosed ${{ in {text!r}")


def _expand_braced(body: str, env: dict[str, str]) -> str:
    match = _BRACED.fullmatch(body)
    if not match:
        raise InterpolationError(f"invalid interpolation ${{{body}}}")
    name, operator, argument = match.groups()
    is_set = name in env
    value = env.get(name, "")
    if operator is None:
        if not is_set:
            raise InterpolationError(f"{name} is used without a default and is not set")
        return value
    if operator == ":-":
        return value if value else interpolate(argument, env)
    if operator == "-":
        return value if is_set else interpolate(argument, env)
    if operator in (":?", "?"):
        if (operator == ":?" and not value) or not is_set:
            raise InterpolationError(f"{name} is required: {argument}")
        return value
    if operator == ":+":
        return interpolate(argument, env) if value else ""
    return interpolate(argument, env) if is_set else ""  # "+"


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt},
    ${VAR+alt}, $VAR and the $$ escape. Unlike Compose, an unset variable with no default is an
    error here, so every variable the file uses must be documented in .env.example."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            out.append(_expand_braced(text[i + 2 : end], env))
            i = end + 1
        elif name := _BARE_NAME.match(text, i + 1):
            out.append(_expand_braced(name.group(), env))
            i = name.end()
        else:
            raise InterpolationError(f"lone $ in {text!r} (write $$ for a literal $)")
    return "".join(out)


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    """Interpolate every string value (not keys), as Compose does after parsing the YAML."""
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


@dataclass(frozen=True)
class VariableUse:
    name: str
    operator: str | None  # None for plain ${VAR} / $VAR
    argument: str | None


def variable_uses(text: str) -> list[VariableUse]:
    """Every ${...} and $VAR in `text`, $$ escapes excluded (not nested: the files don't nest)."""
    unescaped = text.replace("$$", "")
    uses = [
        VariableUse(m.group(1), m.group(2), m.group(3))
        for m in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}", unescaped)
    ]
    uses += [VariableUse(m.group(1), None, None) for m in re.finditer(r"\$([A-Za-z_][A-Za-z0-9_]*)", unescaped)]
    return uses


# ---------------------------------------------------------------------- Compose checks


def compose_schema_errors(document: Any) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY", re.IGNORECASE)
_REQUIRED_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}")


def _string_items(node: Any, path: str = "") -> Iterator[tuple[str, str | None, str]]:
    """(where, key or None, value) for every string in a parsed YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                yield f"{path}/{key}", str(key), value
            else:
                yield from _string_items(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, str):
                key, sep, value = item.partition("=")
                yield (f"{path}/{index}", key, value) if sep else (f"{path}/{index}", None, item)
            else:
                yield from _string_items(item, f"{path}/{index}")


def literal_secrets(raw_compose: Any) -> list[str]:
    """Places in an uninterpolated compose tree where a secret is written instead of taken from
    the environment: a secret-named setting, or a URL's password, that is anything but one
    variable with no default (`${VAR}` or `${VAR:?message}`)."""
    found = []
    for where, key, value in _string_items(raw_compose):
        if key is not None and _SECRET_NAME.search(key) and not _REQUIRED_VARIABLE.fullmatch(value.strip()):
            found.append(f"{where}: {value!r}")
        for password in _url_passwords(value):
            if not _REQUIRED_VARIABLE.fullmatch(password):
                found.append(f"{where}: password {password!r} in a URL")
    return found


def _url_passwords(value: str) -> list[str]:
    """The password part of every scheme://user:password@host in `value`."""
    # A ${...} may hold ':' and '@' of its own: hide each behind a numbered placeholder first.
    variables = re.findall(r"\$\{[^}]*\}", value)
    pieces = re.split(r"\$\{[^}]*\}", value)
    masked = "".join(piece + (f"\x00{i}\x00" if i < len(variables) else "") for i, piece in enumerate(pieces))

    def unmask(text: str) -> str:
        return re.sub(r"\x00(\d+)\x00", lambda m: variables[int(m.group(1))], text)

    return [unmask(m.group(1)) for m in re.finditer(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:([^/\s@]*)@", masked)]


def load_raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_PATH.read_text(encoding="utf-8"))


def example_env() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate_tree(load_raw_compose(), example_env())


def _environment(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def _command(service: dict) -> list[str]:
    command = service.get("command")
    return shlex.split(command) if isinstance(command, str) else list(command or [])


def _healthcheck_test(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    type: str  # "bind" or "volume"


def _mounts(service: dict) -> list[Mount]:
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts.append(Mount(volume.get("source", ""), volume["target"], volume.get("type", "volume")))
            continue
        source, _, rest = volume.partition(":")
        target = rest.split(":")[0]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        mounts.append(Mount(source, target, kind))
    return mounts


# ------------------------------------------------------------- interpolation and .env


def test_env_file_parser_reads_quotes_comments_and_export():
    text = 'A=1\n# comment\n\nexport B="x y # not a comment"\nC=plain # comment\nD=\'*/5 * * * *\'\nE=\n'
    assert parse_env_file(text) == {"A": "1", "B": "x y # not a comment", "C": "plain", "D": "*/5 * * * *", "E": ""}
    with pytest.raises(ValueError):
        parse_env_file("not a setting\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${SET}", "v"),
        ("$SET/x", "v/x"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${UNSET:-a ${SET} b}", "a v b"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${SET:?must be set}", "v"),
        ("$${NOT_A_VARIABLE} costs $$5", "${NOT_A_VARIABLE} costs $5"),
        ("${UNSET:-*/15 * * * *}", "*/15 * * * *"),
    ],
)
def test_interpolation_follows_compose_rules(text, expected):
    assert interpolate(text, {"SET": "v", "EMPTY": ""}) == expected


@pytest.mark.parametrize("text", ["${UNSET}", "$UNSET", "${EMPTY:?needed}", "${UNSET?needed}", "${open", "${1BAD}", "a $ b"])
def test_interpolation_rejects_missing_required_and_malformed(text):
    with pytest.raises(InterpolationError):
        interpolate(text, {"EMPTY": ""})


def test_compose_needs_a_password_from_the_environment():
    env = example_env()
    del env["POSTGRES_PASSWORD"]
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        interpolate_tree(load_raw_compose(), env)


def test_env_example_documents_every_variable_the_compose_file_uses_with_the_same_default():
    env = example_env()
    uses = variable_uses(COMPOSE_PATH.read_text(encoding="utf-8"))
    assert uses, "the compose file takes no settings from the environment"
    for use in uses:
        assert use.name in env, f"{use.name} is used by docker-compose.yml but not documented in .env.example"
        if use.operator in (":-", "-"):
            assert env[use.name] == use.argument, (
                f"{use.name}: .env.example says {env[use.name]!r}, docker-compose.yml defaults to {use.argument!r}"
            )
    unused = set(env) - {use.name for use in uses}
    assert not unused, f".env.example documents variables docker-compose.yml never reads: {sorted(unused)}"


def test_env_example_states_the_documented_defaults():
    env = example_env()
    assert env["NEWSFLOW_CRON"] == "*/15 * * * *"
    assert env["NEWSFLOW_MODELS"] == ""
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PREFECT_PORT"} <= set(env)


# ------------------------------------------------------------------- compose: schema


def test_compose_file_is_valid_against_the_compose_specification(compose):
    assert compose_schema_errors(compose) == []


def test_vendored_schema_is_the_compose_specification():
    recorded = re.search(r"sha256: `([0-9a-f]{64})`", (DATA / "README.compose-spec.md").read_text(encoding="utf-8"))
    assert recorded and hashlib.sha256(COMPOSE_SCHEMA_PATH.read_bytes()).hexdigest() == recorded.group(1)
    schema = json.loads(COMPOSE_SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["title"] == "Compose Specification"
    assert {"services", "volumes", "networks"} <= set(schema["properties"])


def _break_unknown_service_key(doc):
    doc["services"]["newsflow"]["restart_policy"] = "always"


def _break_depends_on_condition(doc):
    doc["services"]["newsflow"]["depends_on"]["prefect-server"]["condition"] = "healthy"


def _break_top_level_key(doc):
    doc["service"] = doc.pop("services")


def _break_healthcheck_key(doc):
    doc["services"]["postgres"]["healthcheck"]["command"] = doc["services"]["postgres"]["healthcheck"].pop("test")


def _break_volume_list(doc):
    doc["services"]["newsflow"]["volumes"] = "./seeds:/data/seeds"


def _break_service_name(doc):
    doc["services"]["news flow"] = doc["services"].pop("newsflow")


@pytest.mark.parametrize(
    "breakage",
    [
        _break_unknown_service_key,
        _break_depends_on_condition,
        _break_top_level_key,
        _break_healthcheck_key,
        _break_volume_list,
        _break_service_name,
    ],
)
def test_schema_rejects_a_broken_compose_file(compose, breakage):
    broken = copy.deepcopy(compose)
    breakage(broken)
    assert compose_schema_errors(broken), f"{breakage.__name__} was accepted by the schema"


def test_schema_rejects_a_broken_snippet():
    snippet = yaml.safe_load("services:\n  web:\n    image: nginx\n    ports: 8080\n    restart_policy: always\n")
    errors = compose_schema_errors(snippet)
    assert any("ports" in error for error in errors)
    assert any("restart_policy" in error for error in errors)


# --------------------------------------------------------- compose: what the schema can't say


def test_services_are_postgres_prefect_server_and_newsflow(compose):
    assert set(compose["services"]) == {"postgres", "prefect-server", "newsflow"}


def test_every_service_restarts_unless_stopped(compose):
    for name, service in compose["services"].items():
        assert service.get("restart") == "unless-stopped", f"{name} has restart {service.get('restart')!r}"


def test_services_others_wait_for_have_healthchecks(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition["condition"] == "service_healthy", f"{name} starts before {dependency} is healthy"
            assert _healthcheck_test(services[dependency]), f"{name} waits for {dependency}, which has no healthcheck"
    assert services["newsflow"]["depends_on"].keys() == {"prefect-server"}
    assert services["prefect-server"]["depends_on"].keys() == {"postgres"}


def test_postgres_is_checked_with_pg_isready_and_keeps_its_data(compose):
    postgres = compose["services"]["postgres"]
    assert "pg_isready" in _healthcheck_test(postgres)
    assert any(m.type == "volume" and m.target == "/var/lib/postgresql/data" for m in _mounts(postgres))
    env = _environment(postgres)
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(env)


def test_prefect_server_runs_on_4200_against_postgres(compose):
    server = compose["services"]["prefect-server"]
    command = _command(server)
    assert command[:3] == ["prefect", "server", "start"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "http://localhost:4200/api/health" in _healthcheck_test(server)
    assert any(port.endswith(":4200") for port in server["ports"])

    env = _environment(server)
    url = env.get("PREFECT_SERVER_DATABASE_CONNECTION_URL") or env["PREFECT_API_DATABASE_CONNECTION_URL"]
    postgres_env = _environment(compose["services"]["postgres"])
    parts = urlsplit(url)
    assert parts.scheme == "postgresql+asyncpg"
    assert parts.hostname == "postgres" and parts.hostname in compose["services"]
    assert parts.username == postgres_env["POSTGRES_USER"]
    assert parts.password == postgres_env["POSTGRES_PASSWORD"]
    assert parts.path == "/" + postgres_env["POSTGRES_DB"]


def test_newsflow_serves_the_flow_against_the_prefect_server_service(compose):
    newsflow = compose["services"]["newsflow"]
    assert _command(newsflow) == ["newsflow", "serve"]
    api = urlsplit(_environment(newsflow)["PREFECT_API_URL"])
    assert api.scheme == "http"
    assert api.hostname == "prefect-server" and api.hostname in compose["services"]
    assert api.port == 4200 and api.path == "/api"


def test_newsflow_mounts_seeds_warehouse_and_a_models_volume(compose):
    newsflow = compose["services"]["newsflow"]
    env = _environment(newsflow)
    by_target = {m.target: m for m in _mounts(newsflow)}

    seeds = by_target[env["NEWSFLOW_SEEDS"]]
    assert (seeds.type, posixpath.normpath(seeds.source)) == ("bind", "seeds")
    warehouse = by_target[posixpath.dirname(env["NEWSFLOW_WAREHOUSE"])]
    assert (warehouse.type, posixpath.normpath(warehouse.source)) == ("bind", "warehouse")
    assert env["NEWSFLOW_WAREHOUSE"].endswith(".duckdb")
    assert (ROOT / "seeds").is_dir() and (ROOT / "warehouse").is_dir()

    argos_dir = env.get("ARGOS_PACKAGES_DIR") or dockerfile_env()["ARGOS_PACKAGES_DIR"]
    models = by_target[argos_dir]
    assert models.type == "volume" and models.source in compose["volumes"]
    for mount in _mounts(newsflow):
        if mount.type == "volume":
            assert mount.source in compose["volumes"], f"named volume {mount.source} is not declared"


def test_newsflow_cron_defaults_to_every_fifteen_minutes(compose):
    assert _environment(compose["services"]["newsflow"])["NEWSFLOW_CRON"] == "*/15 * * * *"
    assert _environment(interpolate_tree(load_raw_compose(), {"POSTGRES_PASSWORD": "x"})["services"]["newsflow"])[
        "NEWSFLOW_CRON"
    ] == "*/15 * * * *"


def test_compose_build_args_are_declared_by_the_dockerfile(compose):
    declared = {name for stage_args in dockerfile_args().values() for name in stage_args}
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is None:
            continue
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE_PATH
        for arg in build.get("args") or {}:
            assert arg in declared, f"{name} passes build argument {arg}, which the Dockerfile does not declare"
    assert "NEWSFLOW_MODELS" in compose["services"]["newsflow"]["build"]["args"]


def test_compose_file_holds_no_literal_password():
    raw_text = COMPOSE_PATH.read_text(encoding="utf-8")
    assert example_env()["POSTGRES_PASSWORD"] not in raw_text
    assert literal_secrets(load_raw_compose()) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "services: {db: {environment: {POSTGRES_PASSWORD: hunter2}}}",
        "services: {db: {environment: [POSTGRES_PASSWORD=hunter2]}}",
        "services: {db: {environment: {POSTGRES_PASSWORD: '${POSTGRES_PASSWORD:-hunter2}'}}}",
        "services: {app: {environment: {DB_URL: 'postgresql+asyncpg://u:hunter2@db:5432/x'}}}",
        "services: {app: {environment: {DB_URL: 'postgresql://u:${PW:-hunter2}@db/x'}}}",
        "services: {app: {environment: {DB_URL: 'postgresql://${U:-u}:hunter2@${HOST:-db}/x'}}}",
        "services: {app: {command: 'connect --url https://admin:hunter2@example.org/api'}}",
        "services: {app: {environment: {API_TOKEN: abc123}}}",
    ],
)
def test_literal_secrets_are_found(snippet):
    assert literal_secrets(yaml.safe_load(snippet))


def test_secrets_taken_from_the_environment_pass():
    snippet = "services: {db: {environment: {PASSWORD: '${PW}', URL: 'postgresql://u:${PW:?set PW}@db/x', PASSWORD_FILE_HINT_X: '${X?}'}}}"
    assert literal_secrets(yaml.safe_load(snippet)) == []


# ------------------------------------------------------------------- Dockerfile parser

KNOWN_INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
        "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
    }
)  # fmt: skip
MAY_BE_EXEC_FORM = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
MUST_BE_JSON_WHEN_BRACKETED = frozenset({"CMD", "ENTRYPOINT", "SHELL"})
# Environment of the python:3.11-slim base image, and variables the shell of a RUN sets itself.
BASE_IMAGE_ENV = frozenset({"PATH", "LANG", "GPG_KEY", "PYTHON_VERSION", "PYTHON_SHA256"})
SHELL_VARIABLES = frozenset({"HOME", "PWD", "HOSTNAME", "IFS"})
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class DockerfileError(ValueError):
    pass


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    arguments: str  # continuation lines joined, comment lines inside them dropped
    line: int  # where the instruction starts, 1-based
    exec_form: tuple[str, ...] | None = None  # the JSON array form, when used


def _parser_directives(lines: list[str]) -> tuple[dict[str, str], int]:
    directives: dict[str, str] = {}
    index = 0
    while index < len(lines):
        match = re.fullmatch(r"#\s*([A-Za-z]+)\s*=\s*(\S+)\s*", lines[index])
        if not match:
            break
        directives[match.group(1).lower()] = match.group(2)
        index += 1
    return directives, index


def parse_dockerfile(text: str) -> list[Instruction]:
    """Logical instructions of a Dockerfile; DockerfileError says where it is malformed."""
    lines = text.splitlines()
    directives, index = _parser_directives(lines)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileError(f"escape directive must be \\ or `, not {escape!r}")
    instructions = []
    while index < len(lines):
        if not lines[index].strip() or lines[index].lstrip().startswith("#"):
            index += 1
            continue
        start = index
        pieces = []
        line = lines[index]
        while True:
            body = line.rstrip()
            if not body.endswith(escape):
                pieces.append(line)
                index += 1
                break
            if body != line:
                raise DockerfileError(f"line {index + 1}: whitespace after the line continuation {escape}")
            pieces.append(body[:-1])
            index += 1
            while index < len(lines) and lines[index].lstrip().startswith("#"):
                index += 1  # comment lines inside a continued instruction are dropped
            if index >= len(lines):
                raise DockerfileError(f"line {start + 1}: the file ends inside a continued instruction")
            if not lines[index].strip():
                raise DockerfileError(f"line {index + 1}: empty line inside a continued instruction")
            line = lines[index]
        instructions.append(_instruction("".join(pieces).strip(), start + 1))
    if not instructions or instructions[0].keyword not in ("FROM", "ARG"):
        raise DockerfileError("a Dockerfile starts with FROM (or ARG before FROM)")
    return instructions


def _instruction(logical: str, line: int) -> Instruction:
    keyword, _, arguments = logical.partition(" ")
    keyword = keyword.upper()
    arguments = arguments.strip()
    if keyword not in KNOWN_INSTRUCTIONS:
        raise DockerfileError(f"line {line}: unknown instruction {keyword}")
    if not arguments:
        raise DockerfileError(f"line {line}: {keyword} needs arguments")
    if keyword in ("RUN", "COPY", "ADD") and re.search(r"<<-?\s*['\"]?[A-Za-z_]\w*['\"]?\s*$", arguments, re.M):
        raise DockerfileError(f"line {line}: heredocs are not supported by this parser")
    exec_form = None
    if keyword in MAY_BE_EXEC_FORM and arguments.startswith("["):
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            exec_form = tuple(parsed)
        elif keyword in MUST_BE_JSON_WHEN_BRACKETED:
            raise DockerfileError(f"line {line}: {keyword} {arguments} is not a JSON array of strings (Docker would run it through a shell)")
    instruction = Instruction(keyword, arguments, line, exec_form)
    _check_arguments(instruction)
    return instruction


def _check_arguments(ins: Instruction) -> None:
    words = ins.arguments.split()
    if ins.keyword == "FROM":
        words = [w for w in words if not w.startswith("--platform=")]
        if not (len(words) == 1 or (len(words) == 3 and words[1].upper() == "AS")):
            raise DockerfileError(f"line {ins.line}: FROM takes IMAGE [AS NAME], got {ins.arguments!r}")
    elif ins.keyword == "ARG":
        for word in shlex.split(ins.arguments):
            if not re.fullmatch(_NAME, word.split("=", 1)[0]):
                raise DockerfileError(f"line {ins.line}: bad ARG name in {word!r}")
    elif ins.keyword == "ENV":
        _env_pairs(ins)
    elif ins.keyword in ("COPY", "ADD") and ins.exec_form is None:
        if len([w for w in words if not w.startswith("--")]) < 2:
            raise DockerfileError(f"line {ins.line}: {ins.keyword} needs a source and a destination")
    elif ins.keyword in ("USER", "WORKDIR", "STOPSIGNAL") and len(words) != 1:
        raise DockerfileError(f"line {ins.line}: {ins.keyword} takes one argument")
    elif ins.keyword == "HEALTHCHECK":
        rest = [w for w in words if not w.startswith("--")]
        if rest[:1] not in (["NONE"], ["CMD"]):
            raise DockerfileError(f"line {ins.line}: HEALTHCHECK takes [OPTIONS] CMD command, or NONE")


def _env_pairs(ins: Instruction) -> dict[str, str]:
    tokens = shlex.split(ins.arguments, posix=True)
    if tokens and "=" not in tokens[0]:  # legacy `ENV NAME value with spaces`
        name, value = tokens[0], " ".join(tokens[1:])
        pairs = {name: value}
    else:
        if not all("=" in token for token in tokens):
            raise DockerfileError(f"line {ins.line}: ENV mixes NAME=value and NAME value forms")
        pairs = dict(token.split("=", 1) for token in tokens)
    for name in pairs:
        if not re.fullmatch(_NAME, name):
            raise DockerfileError(f"line {ins.line}: bad ENV name {name!r}")
    return pairs


def _arg_names(ins: Instruction) -> dict[str, str | None]:
    return {
        word.split("=", 1)[0]: (word.split("=", 1)[1] if "=" in word else None) for word in shlex.split(ins.arguments)
    }


def _references(ins: Instruction) -> set[str]:
    if ins.exec_form is not None and ins.keyword in ("RUN", "CMD", "ENTRYPOINT"):
        return set()  # exec form: no shell, no substitution
    text = ins.arguments
    if ins.keyword in ("ARG", "ENV"):
        text = " ".join(value for value in (_arg_names(ins) if ins.keyword == "ARG" else _env_pairs(ins)).values() if value)
    pattern = rf"(?<!\\)\$(?:\{{({_NAME})[^}}]*\}}|({_NAME}))"
    return {a or b for a, b in re.findall(pattern, text)}


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[Instruction]


def split_stages(instructions: list[Instruction]) -> tuple[list[Instruction], list[Stage]]:
    """The ARGs before the first FROM, and the build stages."""
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = [w for w in ins.arguments.split() if not w.startswith("--platform=")]
            stages.append(Stage(words[2] if len(words) == 3 else None, words[0], []))
        elif not stages:
            if ins.keyword != "ARG":
                raise DockerfileError(f"line {ins.line}: only ARG may come before the first FROM")
            global_args.append(ins)
        else:
            stages[-1].instructions.append(ins)
    return global_args, stages


def undeclared_variables(instructions: list[Instruction]) -> list[str]:
    """Variables used before an ARG or ENV declares them, by Docker's scoping: an ARG before the
    first FROM serves FROM lines only; a stage sees its base stage's ARG/ENV, its own, and (in
    RUN) what the shell sets."""
    problems = []
    global_args, stages = split_stages(instructions)
    global_names: set[str] = set()
    for ins in global_args:
        problems += [f"line {ins.line}: ${name}" for name in _references(ins) - global_names]
        global_names |= set(_arg_names(ins))
    declared_by_stage: dict[str, set[str]] = {}
    from_lines = [ins for ins in instructions if ins.keyword == "FROM"]
    for stage, from_line in zip(stages, from_lines):
        problems += [f"line {from_line.line}: ${name}" for name in _references(from_line) - global_names]
        declared = set(declared_by_stage.get(stage.base, BASE_IMAGE_ENV))
        for ins in stage.instructions:
            visible = declared | (SHELL_VARIABLES if ins.keyword == "RUN" else set())
            problems += [f"line {ins.line}: ${name}" for name in sorted(_references(ins) - visible)]
            if ins.keyword == "ARG":
                declared |= set(_arg_names(ins))
            elif ins.keyword == "ENV":
                declared |= set(_env_pairs(ins))
        if stage.name:
            declared_by_stage[stage.name] = declared
    return problems


def parsed_dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE_PATH.read_text(encoding="utf-8"))


def final_stage() -> Stage:
    return split_stages(parsed_dockerfile())[1][-1]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in final_stage().instructions:
        if ins.keyword == "ENV":
            env.update(_env_pairs(ins))
    return env


def dockerfile_args() -> dict[str, dict[str, str | None]]:
    """Build arguments declared per stage (global ARGs under "")."""
    global_args, stages = split_stages(parsed_dockerfile())
    result = {"": {k: v for ins in global_args for k, v in _arg_names(ins).items()}}
    for number, stage in enumerate(stages):
        result[stage.name or str(number)] = {
            k: v for ins in stage.instructions if ins.keyword == "ARG" for k, v in _arg_names(ins).items()
        }
    return result


# ---------------------------------------------------------------- pip install steps


@dataclass(frozen=True)
class PipInstall:
    options: frozenset[str]
    requirements: tuple[str, ...]
    editable: bool = False


_PIP_OPTIONS_WITH_VALUE = frozenset(
    {"-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f",
     "--find-links", "-t", "--target", "--prefix", "--root", "--src", "--upgrade-strategy", "--python-version"}
)  # fmt: skip


def pip_installs(shell: str) -> list[PipInstall]:
    """Each `pip install` in a shell command line (pip, pip3, python -m pip), in order."""
    found = []
    for command in re.split(r"&&|\|\||;|\n", shell):
        tokens = shlex.split(command)
        for i, token in enumerate(tokens):
            is_pip = posixpath.basename(token) in ("pip", "pip3") or (token == "pip" and i > 0 and tokens[i - 1] == "-m")
            if not is_pip:
                continue
            rest = list(itertools.dropwhile(lambda t: t.startswith("-"), tokens[i + 1 :]))  # pip's global options
            if rest[:1] == ["install"]:
                found.append(_pip_install(rest[1:]))
                break
    return found


def _pip_install(args: list[str]) -> PipInstall:
    options, requirements, editable = set(), [], False
    iterator = iter(args)
    for arg in iterator:
        if arg in ("-e", "--editable"):
            editable = True
            requirements.append(next(iterator))
        elif arg in _PIP_OPTIONS_WITH_VALUE:
            options.add(f"{arg} {next(iterator)}")
        elif arg.startswith("-"):
            options.add(arg)
        else:
            requirements.append(arg)
    return PipInstall(frozenset(options), tuple(requirements), editable)


def makefile_variables(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^(\w+)\s*[:?]?=\s*(.*)$", text, re.M)}


def expand_make_variables(text: str, variables: dict[str, str]) -> str:
    for _ in range(10):
        expanded = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), text)
        if expanded == text:
            break
        text = expanded
    return text


def makefile_pip_installs(text: str, target: str = "$(STAMP)") -> list[PipInstall]:
    """The pip installs of one target's recipe (by default the one that sets up .venv)."""
    variables = makefile_variables(text)
    recipe_lines, in_target = [], False
    for line in text.splitlines():
        if not line.startswith("\t"):
            in_target = line.startswith(f"{target}:") if line.strip() else in_target
        elif in_target and not line.strip().startswith("#"):
            recipe_lines.append(line.strip())
    return [step for line in recipe_lines for step in pip_installs(expand_make_variables(line, variables))]


def dockerfile_pip_installs(instructions: list[Instruction]) -> list[PipInstall]:
    return [step for ins in instructions if ins.keyword == "RUN" and ins.exec_form is None for step in pip_installs(ins.arguments)]


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;@ ]", requirement, maxsplit=1)[0].lower()


# Packages whose own dependencies pull torch (and CUDA) unless installed with --no-deps.
PULL_TORCH = frozenset({"argostranslate", "stanza", "spacy", "sentence-transformers", "transformers"})


def torch_installs(steps: list[PipInstall]) -> list[str]:
    problems = []
    for step in steps:
        for requirement in step.requirements:
            name = _requirement_name(requirement)
            if name in ("torch", "torchvision", "torchaudio") or name.startswith("nvidia-"):
                problems.append(f"installs {requirement}")
            elif name in PULL_TORCH and "--no-deps" not in step.options:
                problems.append(f"installs {requirement} with its dependencies (torch)")
        problems += [f"uses {opt}" for opt in step.options if "pytorch" in opt or "cuda" in opt]
    return problems


# ------------------------------------------------------------------ Dockerfile tests


def test_dockerfile_parses():
    instructions = parsed_dockerfile()
    assert [ins.keyword for ins in instructions][0] == "FROM"
    assert all(ins.keyword in KNOWN_INSTRUCTIONS for ins in instructions)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM python:3.11-slim\nRUNN echo hi\n", "unknown instruction RUNN"),
        ("FROM python:3.11-slim\nRUN echo a \\\n", "ends inside a continued instruction"),
        ("FROM python:3.11-slim\nRUN echo a \\ \n    && echo b\n", "whitespace after the line continuation"),
        ("FROM python:3.11-slim\nRUN echo a \\\n\n    && echo b\n", "empty line inside a continued instruction"),
        ('FROM python:3.11-slim\nCMD ["newsflow", "serve"\n', "not a JSON array"),
        ("FROM python:3.11-slim\nCOPY onlyone\n", "source and a destination"),
        ("FROM python:3.11-slim AS\n", "FROM takes IMAGE"),
        ("RUN echo before from\n", "starts with FROM"),
        ("FROM python:3.11-slim\nWORKDIR\n", "needs arguments"),
        ("FROM python:3.11-slim\nRUN <<EOF\necho hi\nEOF\n", "heredocs"),
    ],
)
def test_parser_rejects_malformed_dockerfiles(text, message):
    with pytest.raises(DockerfileError, match=message):
        parse_dockerfile(text)


def test_parser_joins_continuations_and_drops_comments_inside_them():
    instructions = parse_dockerfile(
        "# syntax=docker/dockerfile:1\nFROM python:3.11-slim\n# a comment\nRUN echo a \\\n# inside\n && echo b\n"
        'CMD ["newsflow", "serve"]\n'
    )
    assert [(i.keyword, i.arguments, i.line) for i in instructions[:2]] == [
        ("FROM", "python:3.11-slim", 2),
        ("RUN", "echo a  && echo b", 4),
    ]
    assert instructions[2].exec_form == ("newsflow", "serve")


def test_dockerfile_uses_only_declared_args_and_env():
    assert undeclared_variables(parsed_dockerfile()) == []


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.11-slim\nRUN newsflow models install $NEWSFLOW_MODEL\n",  # typo
        "FROM python:3.11-slim\nRUN echo ${LATER}\nARG LATER=1\n",  # used before declared
        "ARG BASE=python:3.11-slim\nFROM ${BASE}\nRUN echo ${BASE}\n",  # global ARG not redeclared
        "FROM python:3.11-slim AS a\nARG X=1\nFROM python:3.11-slim\nRUN echo $X\n",  # other stage's ARG
        "FROM python:3.11-slim\nENV A=$UNDEFINED\n",
        "FROM ${IMAGE}\n",
    ],
)
def test_undeclared_variables_are_found(text):
    assert undeclared_variables(parse_dockerfile(text))


def test_declared_variables_pass_with_stage_scoping():
    text = (
        "ARG BASE=python:3.11-slim\nFROM ${BASE} AS a\nARG BASE\nENV V=/v PATH=/x:$PATH\nRUN echo $BASE $V $HOME\n"
        'FROM a\nRUN echo ${V:-none}\nCMD ["sh", "-c", "echo $NOT_EXPANDED_IN_EXEC_FORM"]\n'
    )
    assert undeclared_variables(parse_dockerfile(text)) == []


def test_final_stage_is_python_311_slim_non_root_in_app_running_newsflow_serve():
    global_args, stages = split_stages(parsed_dockerfile())
    assert all(stage.base == "python:3.11-slim" or stage.base in {s.name for s in stages} for stage in stages)
    final = stages[-1]
    users = [ins.arguments for ins in final.instructions if ins.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    workdirs = [ins.arguments for ins in final.instructions if ins.keyword == "WORKDIR"]
    assert workdirs[-1] == "/app"
    commands = [ins for ins in final.instructions if ins.keyword in ("CMD", "ENTRYPOINT")]
    assert [c.exec_form for c in commands] == [("newsflow", "serve")]


def test_dockerfile_installs_the_locked_sets_the_makefile_installs():
    """Same install steps as the Makefile, but the runtime lock instead of the dev lock, and the
    project itself as a plain (not editable) install."""
    makefile = makefile_pip_installs(MAKEFILE_PATH.read_text(encoding="utf-8"))
    dockerfile = dockerfile_pip_installs(parsed_dockerfile())
    assert len(makefile) == 3, "the Makefile's install steps changed: update the Dockerfile and this test"
    assert [_locked_install(step) for step in makefile] == [
        ("-r requirements-dev.lock", True),
        ("-r requirements-argos.lock", True),
        (".", True),
    ]
    assert [_locked_install(step) for step in dockerfile] == [
        ("-r requirements.lock", True),
        ("-r requirements-argos.lock", True),
        (".", True),
    ]
    assert all("--require-hashes" in step.options for step in dockerfile[:2] + makefile[:2])
    assert not any(step.editable for step in dockerfile)
    copied = {source for ins in parsed_dockerfile() if ins.keyword == "COPY" for source in ins.arguments.split()[:-1]}
    assert {"requirements.lock", "requirements-argos.lock"} <= copied
    allowed = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {"!requirements.lock", "!requirements-argos.lock"} <= set(allowed), "the build context must hold the locks"


def _locked_install(step: PipInstall) -> tuple[str, bool]:
    """What one install step installs: a lock file, or the project (`.`), and whether it is --no-deps."""
    locks = sorted(option for option in step.options if option.startswith("-r "))
    project = [re.sub(r"\[.*\]$", "", r) for r in step.requirements if r.startswith((".", "/"))]
    return (" ".join(locks + project), "--no-deps" in step.options)


@pytest.mark.parametrize(
    "run",
    [
        "python -m pip install . && python -m pip install --no-deps argostranslate==1.11.0",
        "python -m pip install --no-deps -r requirements.lock && python -m pip install --no-deps -r requirements-argos.lock && python -m pip install .",
        "python -m pip install --no-deps -r requirements-argos.lock && python -m pip install --no-deps -r requirements.lock && python -m pip install --no-deps .",
        "python -m pip install -r requirements.lock && python -m pip install --no-deps -r requirements-argos.lock && python -m pip install --no-deps .",
    ],
)
def test_lock_comparison_catches_an_unlocked_or_reordered_install(run):
    steps = dockerfile_pip_installs(parse_dockerfile(f"FROM python:3.11-slim\nRUN {run}\n"))
    assert [_locked_install(s) for s in steps] != [("-r requirements.lock", True), ("-r requirements-argos.lock", True), (".", True)]


def test_pip_install_extraction():
    steps = pip_installs(
        "python -m pip install --quiet -e '.[dev]' && /opt/venv/bin/pip install -r req.txt x==1; pip3 --isolated install --no-deps y"
    )
    assert steps == [
        PipInstall(frozenset({"--quiet"}), (".[dev]",), editable=True),
        PipInstall(frozenset({"-r req.txt"}), ("x==1",)),
        PipInstall(frozenset({"--no-deps"}), ("y",)),
    ]


def test_dockerfile_does_not_install_torch():
    assert torch_installs(dockerfile_pip_installs(parsed_dockerfile())) == []
    dependencies = tomllib.loads(PYPROJECT_PATH.read_text(encoding="utf-8"))["project"]["dependencies"]
    names = {_requirement_name(d) for d in dependencies}
    assert not names & (PULL_TORCH | {"torch"}), "pip install . would pull torch through these"
    assert not [ins.line for ins in parsed_dockerfile() if "torch" in ins.arguments.lower()]


@pytest.mark.parametrize(
    "run",
    [
        "pip install torch",
        "pip install argostranslate==1.11.0",
        "pip install --extra-index-url https://download.pytorch.org/whl/cpu x",
        "pip install nvidia-cublas-cu12",
    ],
)
def test_torch_installs_are_found(run):
    assert torch_installs(pip_installs(run))


def test_models_are_installed_at_build_time_only_when_asked():
    final = final_stage()
    args = dockerfile_args()[final.name or str(len(split_stages(parsed_dockerfile())[1]) - 1)]
    assert args.get("NEWSFLOW_MODELS") in ("", '""', "''")
    runs = [ins for ins in final.instructions if ins.keyword == "RUN" and "NEWSFLOW_MODELS" in ins.arguments]
    assert len(runs) == 1
    run = runs[0].arguments
    assert re.search(r'\[ -n "\$\{?NEWSFLOW_MODELS\}?" \]', run), "the install must be skipped when the list is empty"
    assert "newsflow models install ${NEWSFLOW_MODELS}" in run or "newsflow models install $NEWSFLOW_MODELS" in run
    position = final.instructions.index(runs[0])
    before = final.instructions[:position]
    assert any(ins.keyword == "USER" for ins in before), "models must belong to the runtime user"
    assert "ARGOS_PACKAGES_DIR" in dockerfile_env() and dockerfile_env()["ARGOS_PACKAGES_DIR"].startswith("/")


def test_image_paths_match_the_compose_service(compose):
    env = dockerfile_env()
    service_env = _environment(compose["services"]["newsflow"])
    for name in ("NEWSFLOW_SEEDS", "NEWSFLOW_WAREHOUSE"):
        assert env[name] == service_env[name]
    targets = {m.target for m in _mounts(compose["services"]["newsflow"])}
    assert env["ARGOS_PACKAGES_DIR"] in targets
    assert env["NEWSFLOW_STATE"] in targets


# ---------------------------------------------------------------- .dockerignore


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def dockerignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def is_excluded(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = posixpath.normpath(raw[1:] if negated else raw).lstrip("/")
        regex = _dockerignore_regex(pattern)
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def _copy_sources(instructions: list[Instruction]) -> list[str]:
    sources = []
    for ins in instructions:
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = list(ins.exec_form) if ins.exec_form else ins.arguments.split()
        if any(w.startswith("--from=") for w in words):
            continue
        sources += [w for w in words if not w.startswith("--")][:-1]
    return sources


def test_dockerignore_matching_follows_docker_rules():
    patterns = ["*", "!pipeline", "!warehouse/schema.sql", "**/__pycache__"]
    assert not is_excluded("pipeline/extract/article.py", patterns)
    assert is_excluded("pipeline/__pycache__/x.pyc", patterns)
    assert not is_excluded("warehouse/schema.sql", patterns)
    assert is_excluded("warehouse/news.duckdb", patterns)
    assert is_excluded(".env", patterns)
    assert not is_excluded(".env", ["*.pyc", "build"])


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_secret():
    patterns = dockerignore_patterns(DOCKERIGNORE_PATH.read_text(encoding="utf-8"))
    sources = _copy_sources(parsed_dockerfile())
    assert sources
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"the Dockerfile copies {source}, which does not exist"
        files = [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts] if path.is_dir() else [path]
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            assert not is_excluded(relative, patterns), f"{relative} is copied but .dockerignore leaves it out"
    for private in (".env", ".venv/bin/python", ".git/HEAD", "warehouse/news.duckdb", "seeds/000.txt", ".state/x", "tests/test_x.py"):
        assert is_excluded(private, patterns), f"{private} would be sent to the Docker build"


def test_the_wheel_the_image_builds_has_its_schema():
    """`pip install .` packages warehouse/schema.sql (force-include), which the image copies."""
    pyproject = tomllib.loads(PYPROJECT_PATH.read_text(encoding="utf-8"))
    force_include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"].get("force-include", {})
    copied = set(_copy_sources(parsed_dockerfile()))
    for source in force_include:
        assert source in copied or any(source.startswith(c.rstrip("/") + "/") for c in copied), source
    for package in pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        assert f"{package}/" in copied or package in copied, f"package {package} is not copied into the build"
    assert pyproject["project"]["readme"] in copied


# --------------------------------------------------------------- commands exist


def _cli_commands() -> dict:
    import typer.main

    from flows.cli import app

    return typer.main.get_command(app).commands


@pytest.mark.parametrize("words", [["serve"], ["models", "install"], ["sql"]])
def test_commands_the_deployment_runs_exist_in_the_cli(words):
    commands = _cli_commands()
    for word in words:
        assert word in commands, f"`newsflow {' '.join(words)}` is used by the deployment but the CLI has no {word!r}"
        commands = getattr(commands[word], "commands", {})
