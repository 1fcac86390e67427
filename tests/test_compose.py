"""Checks of the container stack (docker-compose.yml, Dockerfile, .dockerignore, .env.example).

No Docker engine is needed: `docker-compose config` (Debian's docker-compose 1.29) interpolates
and validates the file on its own. Without docker-compose on PATH the compose tests skip, unless
SALESDW_REQUIRE_COMPOSE=1 (set by CI after installing it), where they fail instead.

Every run passes `--env-file` explicitly (which replaces the project's `.env`), an absolute `-f`
and `--project-directory`, from a temporary cwd and with a scrubbed environment, so neither a
developer's real `.env` nor their shell variables can make a check pass or fail.
"""

from __future__ import annotations

import copy
import fnmatch
import os
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from salesdw.orchestrate.connections import LOADER_CONN_ID, TRANSFORMER_CONN_ID, airflow_conn_variable
from salesdw.warehouse.roles import LOGINS, password_variable
from salesdw_dev.tools import required_tool

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

# Secrets the stack must refuse to start without (`${VAR:?message}` in docker-compose.yml).
REQUIRED_SECRETS = [
    "AIRFLOW_DB_PASSWORD",
    "WAREHOUSE_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
    "SALESDW_LOADER_PASSWORD",
    "SALESDW_TRANSFORMER_PASSWORD",
    "SALESDW_BI_PASSWORD",
]
CORE_SERVICES = {
    "postgres",
    "warehouse",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
}
PROFILED_SERVICES = {"airflow-cli": "debug", "flower": "flower"}
# Services that run the salesdw image (everything but the databases and the broker).
AIRFLOW_SERVICES = (CORE_SERVICES | set(PROFILED_SERVICES)) - {"postgres", "warehouse", "redis"}

SECRET_KEY_RE = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$", re.IGNORECASE)
# A value taken whole from a required variable: ${NAME:?message} or ${NAME?message}.
REQUIRED_REF_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}$")
# Compose variable references, not the `$${...}` escapes that reach the container as `${...}`.
VAR_REF_RE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
# user:password@ in a URL, once each ${...} reference is replaced by a placeholder token.
URL_PASSWORD_RE = re.compile(r"://[^:/@\s]*:(?P<password>[^@/\s]*)@")
REF_TOKEN_RE = re.compile(r"\x00(\d+)\x00")


# --- helpers -----------------------------------------------------------------------------------


def _compose_binary() -> str:
    return required_tool("docker-compose", "docker-compose", "to run the compose checks", "SALESDW_REQUIRE_COMPOSE")


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}:{number}: expected NAME=value, got {line!r}"
        values[name.strip()] = value.strip()
    return values


def _write_env_file(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def _run_compose(env_file: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Only what the binary needs: no inherited secrets, COMPOSE_* settings or DOCKER_HOST.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8"}
    command = [
        _compose_binary(),
        "--env-file",
        str(env_file),
        "-f",
        str(COMPOSE_FILE),
        "--project-directory",
        str(REPO),
        *args,
    ]
    return subprocess.run(command, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def _environments(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every `environment` mapping: under services and under x- extension blocks."""
    for path, node in _walk(document):
        if path.endswith("environment") and isinstance(node, dict):
            yield path, node


def _tokenize_refs(value: str) -> tuple[str, list[str]]:
    """Replace each ${...} (whose message may hold spaces or colons) by a token, for URL parsing."""
    refs: list[str] = []

    def keep(match: re.Match[str]) -> str:
        refs.append(match[0])
        return f"\x00{len(refs) - 1}\x00"

    return re.sub(r"(?<!\$)\$\{[^}]*\}", keep, value), refs


def _secret_problems(document: dict[str, Any], text: str) -> list[str]:
    """Places where docker-compose.yml holds a secret itself instead of a required variable."""
    problems = []
    for path, env in _environments(document):
        for key, value in env.items():
            value = "" if value is None else str(value)
            if SECRET_KEY_RE.search(key) and not REQUIRED_REF_RE.match(value):
                problems.append(f"{path}.{key} = {value!r} (must be ${{VAR:?message}})")
            tokenized, refs = _tokenize_refs(value)
            for match in URL_PASSWORD_RE.finditer(tokenized):
                password = match["password"]
                if not password:
                    continue  # no password at all (the broker on the internal network)
                token = REF_TOKEN_RE.fullmatch(password)
                if not token or not REQUIRED_REF_RE.match(refs[int(token[1])]):
                    shown = REF_TOKEN_RE.sub(lambda m, refs=refs: refs[int(m[1])], password)
                    problems.append(f"{path}.{key}: URL password {shown!r} is not ${{VAR:?...}}")
    for path, node in _walk(document):
        if isinstance(node, str):
            for match in re.finditer(r"--password[= ]+(\S+)", node):
                if not re.match(r"[\"']?\$\$?\{", match[1]):
                    problems.append(f"{path}: --password {match[1]} is a literal")
    for number, line in enumerate(text.splitlines(), start=1):
        found = re.match(r"\s*-?\s*[\w.-]*(password|secret)[\w.-]*\s*[:=]\s*(\S.*)$", line, re.IGNORECASE)
        if found and not found[2].startswith(("${", '"${', "'${")):
            problems.append(f"docker-compose.yml:{number}: {line.strip()}")
    return problems


def _logical_lines(dockerfile: str) -> list[str]:
    lines, current = [], ""
    for raw in dockerfile.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def _copy_sources() -> list[str]:
    """Build-context paths that the Dockerfile's COPY/ADD instructions read."""
    sources = []
    for line in _logical_lines(DOCKERFILE.read_text()):
        instruction, _, rest = line.partition(" ")
        if instruction.upper() not in {"COPY", "ADD"}:
            continue
        args = rest.split()
        if any(arg.startswith("--from") for arg in args):
            continue  # from another stage or image, not from the context
        args = [arg for arg in args if not arg.startswith("--")]
        assert len(args) >= 2, f"Dockerfile: cannot parse {line!r}"
        sources.extend(args[:-1])
    return sources


def _dockerignore_patterns() -> list[str]:
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith("!"):
            patterns.append(line.strip("/"))
    return patterns


def _ignored_by(path: str, patterns: list[str]) -> str | None:
    """The .dockerignore pattern that drops `path` (or a folder holding it), if any."""
    parts = Path(path.strip("/")).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        candidates = {pattern}
        if pattern.startswith("**/"):
            candidates.add(pattern[3:])  # `**/` also matches zero folders
        for prefix in prefixes:
            if any(fnmatch.fnmatchcase(prefix, c) for c in candidates):
                return pattern
    return None


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return _read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory, example_env: dict[str, str]) -> dict:
    """`docker-compose config` output with .env.example's values, all profiles on."""
    workdir = tmp_path_factory.mktemp("compose")
    env_file = _write_env_file(workdir / "example.env", example_env)
    result = _run_compose(env_file, "--profile", "debug", "--profile", "flower", "config", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


# --- (a) the file is valid with .env.example -----------------------------------------------------


def test_compose_config_is_valid_with_env_example(tmp_path: Path) -> None:
    result = _run_compose(ENV_EXAMPLE, "config", "-q", cwd=tmp_path)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"


def test_env_example_values_reach_the_services(resolved: dict, example_env: dict[str, str]) -> None:
    """The secrets are wired from the env file into what Airflow and PostgreSQL read."""
    worker_env = resolved["services"]["airflow-worker"]["environment"]
    warehouse_env = resolved["services"]["warehouse"]["environment"]
    metadata_env = resolved["services"]["postgres"]["environment"]

    assert warehouse_env["POSTGRES_PASSWORD"] == example_env["WAREHOUSE_PASSWORD"]
    assert metadata_env["POSTGRES_PASSWORD"] == example_env["AIRFLOW_DB_PASSWORD"]
    assert worker_env["AIRFLOW__CORE__FERNET_KEY"] == example_env["AIRFLOW_FERNET_KEY"]
    assert worker_env["AIRFLOW__API_AUTH__JWT_SECRET"] == example_env["AIRFLOW_JWT_SECRET"]
    assert worker_env["AIRFLOW__API__SECRET_KEY"] == example_env["AIRFLOW_API_SECRET_KEY"]
    init_env = resolved["services"]["airflow-init"]["environment"]
    assert init_env["_AIRFLOW_WWW_USER_PASSWORD"] == example_env["AIRFLOW_ADMIN_PASSWORD"]

    # The warehouse connections point at the warehouse service, one per pipeline login; airflow-init
    # alone gets the owner's credentials, for `salesdw db init`.
    user, db = warehouse_env["POSTGRES_USER"], warehouse_env["POSTGRES_DB"]
    for login in ("loader", "transformer"):
        expected = f"postgres://{LOGINS[login]}:{example_env[f'SALESDW_{login.upper()}_PASSWORD']}@warehouse:5432/{db}"
        assert worker_env[f"AIRFLOW_CONN_WAREHOUSE_{login.upper()}"] == expected
    assert init_env["WAREHOUSE_URL"] == f"postgresql://{user}:{example_env['WAREHOUSE_PASSWORD']}@warehouse:5432/{db}"
    for login in LOGINS:
        assert init_env[f"SALESDW_{login.upper()}_PASSWORD"] == example_env[f"SALESDW_{login.upper()}_PASSWORD"]
    # Airflow's metadata DB and Celery results go to `postgres`, never to the warehouse.
    sql_conn = worker_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert f":{example_env['AIRFLOW_DB_PASSWORD']}@postgres/" in sql_conn
    assert "@postgres/" in worker_env["AIRFLOW__CELERY__RESULT_BACKEND"]


# --- (b) a missing required secret stops compose, naming it --------------------------------------


@pytest.mark.parametrize("blank", [False, True], ids=["unset", "empty"])
@pytest.mark.parametrize("secret", REQUIRED_SECRETS)
def test_missing_secret_fails_and_names_it(
    tmp_path: Path, example_env: dict[str, str], secret: str, blank: bool
) -> None:
    assert secret in example_env, f".env.example does not define {secret}"
    values = dict(example_env)
    if blank:
        values[secret] = ""
    else:
        del values[secret]
    env_file = _write_env_file(tmp_path / "partial.env", values)

    result = _run_compose(env_file, "config", "-q", cwd=tmp_path)

    assert result.returncode != 0, f"docker-compose config accepted a config without {secret}"
    output = result.stderr + result.stdout
    # 1.29: 'Missing mandatory value ... in service "x": <our message>'; Compose v2 says
    # 'required variable X is missing a value: <our message>'. The message must name the variable.
    assert re.search(r"Missing mandatory value|required variable", output), output
    message = output.strip().rsplit('":', 1)[-1]
    assert secret in message, f"error does not name {secret}: {output}"


def test_every_required_secret_is_documented(example_env: dict[str, str]) -> None:
    text = COMPOSE_FILE.read_text()
    for secret in REQUIRED_SECRETS:
        assert re.search(r"\$\{" + secret + r":\?", text), f"{secret} is not ${{{secret}:?...}}"
        assert example_env.get(secret), f".env.example has no placeholder for {secret}"


def test_env_example_covers_every_variable_the_compose_file_reads(
    example_env: dict[str, str],
) -> None:
    code = "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))
    referenced = set(VAR_REF_RE.findall(code))
    missing = sorted(referenced - set(example_env))
    assert not missing, f".env.example lacks variables docker-compose.yml reads: {missing}"
    unused = sorted(set(example_env) - referenced)
    assert not unused, f".env.example sets variables docker-compose.yml never reads: {unused}"


# --- (c) the services and how they are wired ---------------------------------------------------


def test_expected_services_exist(resolved: dict) -> None:
    services = resolved["services"]
    missing = sorted((CORE_SERVICES | set(PROFILED_SERVICES)) - set(services))
    assert not missing, f"services missing from docker-compose.yml: {missing}"
    for name, profile in PROFILED_SERVICES.items():
        assert services[name].get("profiles") == [profile], f"{name} should be in profile {profile}"
    for name in CORE_SERVICES:
        assert not services[name].get("profiles"), f"{name} must start without a profile"


def test_airflow_services_run_celery_executor_from_our_image(resolved: dict) -> None:
    services = resolved["services"]
    images = set()
    for name in sorted(AIRFLOW_SERVICES):
        service = services[name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert "@redis:" in env["AIRFLOW__CELERY__BROKER_URL"], name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false", name
        assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"].lower() == "false", name
        assert env["AIRFLOW__COSMOS__CACHE_DIR"], name
        assert "airflow-apiserver:8080/execution" in env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
        assert Path(service["build"]["context"]) == REPO, f"{name} is not built from the repo"
        assert service["user"].endswith(":0"), f"{name}: the Airflow image needs GID 0"
        images.add(service["image"])
    assert len(images) == 1, f"Airflow services use different images: {images}"


def test_commands_and_dependencies(resolved: dict) -> None:
    services = resolved["services"]
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    assert services["airflow-worker"]["command"] == "celery worker"

    worker_deps = services["airflow-worker"]["depends_on"]
    for dependency in ("redis", "postgres", "warehouse"):
        assert worker_deps[dependency]["condition"] == "service_healthy", dependency
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-worker",
        "airflow-triggerer",
    ):
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
    init_script = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init_script
    assert "airflow users create" in init_script
    assert "set -e" in init_script, "airflow-init must stop at the first failing step"


def test_databases_are_separate_with_healthchecks(resolved: dict) -> None:
    services = resolved["services"]
    for name in ("postgres", "warehouse", "redis"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["warehouse"]["image"].startswith("postgres:16")

    def data_volume(name: str) -> str:
        for volume in services[name]["volumes"]:
            source, _, target = (
                volume if isinstance(volume, str) else f"{volume['source']}:{volume['target']}"
            ).partition(":")
            if target.split(":")[0] == "/var/lib/postgresql/data":
                return source
        raise AssertionError(f"{name} keeps no data volume")

    assert data_volume("postgres") != data_volume("warehouse")
    assert not services["postgres"].get("ports"), "the metadata DB should not be published"
    assert not services["redis"].get("ports"), "the Celery broker should not be published"


def test_only_airflow_init_holds_the_warehouse_owners_password(resolved: dict, example_env: dict[str, str]) -> None:
    """Least privilege: the services that run tasks get the pipeline's two logins, nothing more."""
    owner, bi = example_env["WAREHOUSE_PASSWORD"], example_env["SALESDW_BI_PASSWORD"]
    connections = {airflow_conn_variable(LOADER_CONN_ID), airflow_conn_variable(TRANSFORMER_CONN_ID)}
    for name in sorted(AIRFLOW_SERVICES - {"airflow-init"}):
        env = resolved["services"][name]["environment"]
        assert connections <= set(env), f"{name} lacks the pipeline's connections"
        assert "AIRFLOW_CONN_WAREHOUSE" not in env and "WAREHOUSE_URL" not in env, name
        leaked = [key for key, value in env.items() if owner in str(value) or bi in str(value)]
        assert not leaked, f"{name} gets the warehouse owner's or the BI password in {leaked}"
        assert not {password_variable(login) for login in LOGINS} & set(env), name


def test_airflow_init_sets_up_the_warehouse_roles(resolved: dict) -> None:
    init = resolved["services"]["airflow-init"]
    assert init["depends_on"]["warehouse"]["condition"] == "service_healthy"
    script = "\n".join(init["command"])
    assert 'bash -c "salesdw db init"' in script  # the image's entrypoint would run `airflow salesdw`
    assert script.index("set -e") < script.index("salesdw db init")
    for variable in ("WAREHOUSE_URL", "AIRFLOW_CONN_WAREHOUSE_LOADER", "AIRFLOW_CONN_WAREHOUSE_TRANSFORMER"):
        assert variable in script.split("; do")[0], f"airflow-init does not refuse a placeholder {variable}"


def test_published_ports_bind_to_loopback(resolved: dict) -> None:
    published = {}
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                host_ip, container = port.get("host_ip", ""), str(port["target"])
            else:
                # 1.29 prints "IP:HOST:CONTAINER/proto" once resolved.
                fields = str(port).split("/")[0].split(":")
                host_ip = fields[0] if len(fields) == 3 else ""
                container = fields[-1]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published[name] = container
    assert published.get("warehouse") == "5432"
    assert published.get("airflow-apiserver") == "8080"


def test_salesdw_state_lives_on_volumes_shared_by_every_airflow_service(resolved: dict) -> None:
    """Feeds extracted on one worker are loaded on another; logs are read by the API server."""
    for name in sorted(AIRFLOW_SERVICES):
        service = resolved["services"][name]
        mounts = {}
        for volume in service["volumes"]:
            source, target = volume.split(":")[:2] if isinstance(volume, str) else (volume["source"], volume["target"])
            mounts[target] = source
        env = service["environment"]
        for target in (env["SALESDW_DATA_DIR"], env["SALESDW_STATE_DIR"], "/opt/airflow/logs"):
            assert target in mounts, f"{name}: {target} is not on a volume"
            assert not mounts[target].startswith("/"), f"{name}: {target} should be a named volume"


# --- (d) every path the compose file and the Dockerfile read exists -----------------------------


def test_bind_mounts_and_build_contexts_exist(resolved: dict) -> None:
    checked = set()
    for name, service in resolved["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, dict):
                source = volume["source"] if volume.get("type") == "bind" else ""
            else:
                source = volume.split(":")[0]
            if source.startswith(("/", ".", "~")):
                assert Path(source).exists(), f"{name}: bind-mounted {source} does not exist"
                checked.add(source)
        build = service.get("build")
        if build:
            context = Path(build["context"])
            assert context.is_dir(), f"{name}: build context {context} does not exist"
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
            checked.add(str(dockerfile))
    for folder in ("dags", "plugins", "dbt_project"):
        assert str(REPO / folder) in checked, f"./{folder} is not bind-mounted"


def test_dockerfile_copy_sources_exist_and_are_not_dockerignored() -> None:
    sources = _copy_sources()
    for required in ("requirements.lock", "pyproject.toml", "plugins/salesdw/", "dags/", "dbt_project/"):
        assert required in sources, f"Dockerfile does not COPY {required}"
    patterns = _dockerignore_patterns()
    for source in sources:
        assert list(REPO.glob(source.rstrip("/"))), f"Dockerfile COPYs {source}, not in the repo"
        pattern = _ignored_by(source, patterns)
        assert pattern is None, f"Dockerfile COPYs {source}, but .dockerignore drops it ({pattern})"


def test_pyproject_readme_is_copied_for_the_install() -> None:
    # setuptools fails `pip install .` when pyproject's `readme` file is absent.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    readme = project.get("readme")
    if isinstance(readme, dict):
        readme = readme.get("file")
    if readme:
        assert readme in _copy_sources(), f"Dockerfile must COPY {readme} (pyproject readme)"


def test_dockerfile_matches_the_pinned_stack() -> None:
    lines = _logical_lines(DOCKERFILE.read_text())
    base = next(line.split()[1] for line in lines if line.upper().startswith("FROM "))
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[\d.]+)-python(?P<python>[\d.]+)", base)
    assert match, f"unexpected base image {base}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert f"apache-airflow=={match['airflow']}" in project["dependencies"], (
        f"base image Airflow {match['airflow']} differs from pyproject's pin"
    )
    assert f">={match['python']}" in project["requires-python"], project["requires-python"]
    lock = REPO / "requirements.lock"
    if lock.exists():
        assert f"apache-airflow=={match['airflow']}" in lock.read_text().splitlines()
    install = next(line for line in lines if "pip install" in line)
    assert "-c " in install and "requirements.lock" in install, "install must be constrained"
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    assert not users or users[-1] == "airflow", "the image must end as the airflow user"


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    patterns = _dockerignore_patterns()
    for path in (".env", ".venv", ".git", ".salesdw", "data", "logs", "dbt_project/target"):
        assert _ignored_by(path, patterns), f".dockerignore does not exclude {path}"
    assert _ignored_by("plugins/salesdw/__pycache__", patterns)
    assert not _ignored_by("plugins/salesdw/cli.py", patterns)


# --- (e) no secret is written into the compose file -------------------------------------------


def test_no_literal_secret_in_compose_file(raw_compose: dict[str, Any]) -> None:
    problems = _secret_problems(raw_compose, COMPOSE_FILE.read_text())
    assert not problems, "literal secrets in docker-compose.yml:\n" + "\n".join(problems)


def test_secret_check_catches_hard_coded_secrets(raw_compose: dict[str, Any]) -> None:
    """Guards the guard: the check must flag the usual ways a secret gets hard-coded."""
    broken = copy.deepcopy(raw_compose)
    broken["services"]["warehouse"]["environment"]["POSTGRES_PASSWORD"] = "hunter2"
    broken["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] = "${AIRFLOW_DB_PASSWORD:-airflow}"
    worker_env = broken["services"]["airflow-worker"]["environment"]
    worker_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql+psycopg2://airflow:airflow@postgres/airflow"
    worker_env["AIRFLOW_CONN_WAREHOUSE_LOADER"] = "postgresql://salesdw_loader:s3cret@warehouse:5432/x"
    broken["services"]["airflow-init"]["command"] = ["-c", "airflow users create --password admin"]

    problems = "\n".join(_secret_problems(broken, "  POSTGRES_PASSWORD: airflow\n"))

    for expected in (
        "hunter2",
        "${AIRFLOW_DB_PASSWORD:-airflow}",
        "URL password 'airflow'",
        "URL password 's3cret'",
        "--password admin",
        "docker-compose.yml:1",
    ):
        assert expected in problems, f"not flagged: {expected}\n{problems}"


def test_production_installs_carry_no_fake_sources() -> None:
    """The simulator and the generator (plugins/salesdw_dev) are in neither the wheel nor the image."""
    found = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert found["include"] == ["salesdw", "salesdw.*"]
    assert not any(
        source.startswith(("plugins/salesdw_dev", "plugins/ ", "plugins/\n")) or source == "plugins/"
        for source in _copy_sources()
    )
    assert "faker" not in " ".join(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
