"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is validated against the Compose Specification's JSON schema
(vendored in tests/deploy/data, see its README), then structurally: services,
images, ports, mounts, healthchecks and start-up order, and that what it hands
the app (environment, commands) is what the app reads. The `topics` job's script
runs for real against the embedded broker.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shlex
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from app.cli import build_parser
from app.stream.broker import free_port
from app.stream.kafka_io import changelog_topic
from app.stream.settings import WorkerSettings
from app.topology import load_topology
from tests.deploy.helpers import COMPOSE_TOPOLOGY, ROOT, app_env_vars, compose, load_yaml

DATA = Path(__file__).parent / "data"
COMPOSE_SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

SERVICES = {
    "kafka",
    "topics",
    "redis",
    "worker-1",
    "worker-2",
    "producer",
    "prometheus",
    "alertmanager",
    "grafana",
}
WORKERS = ("worker-1", "worker-2")
APP_SERVICES = ("topics", *WORKERS, "producer")
PUBLISHED = {
    "kafka": 9094,
    "worker-1": 8081,
    "worker-2": 8082,
    "prometheus": 9090,
    "alertmanager": 9093,
    "grafana": 3000,
}
OFFICIAL_IMAGES = {
    "kafka": "apache/kafka",
    "redis": "redis",
    "prometheus": "prom/prometheus",
    "alertmanager": "prom/alertmanager",
    "grafana": "grafana/grafana",
}


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


def project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def env_of(service: str) -> dict[str, str]:
    env = services()[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: write environment as a mapping"
    return {key: str(value) for key, value in env.items()}


def interpolate_defaults(value: str) -> str:
    """What compose makes of `${VAR:-default}` when VAR is unset."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def mounts(service: str) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of the service's short-syntax volumes."""
    result = []
    for spec in services()[service].get("volumes", []):
        assert isinstance(spec, str), f"{service}: use the short volume syntax"
        parts = spec.split(":")
        source, target = parts[0], parts[1]
        result.append((source, target, len(parts) > 2 and "ro" in parts[2].split(",")))
    return result


def mounted_from(service: str, target: str) -> Path:
    """The repo file mounted at `target` in the service's container."""
    for source, mount_target, _ in mounts(service):
        if mount_target == target:
            return (ROOT / source).resolve()
        if target.startswith(mount_target.rstrip("/") + "/"):
            return (ROOT / source / PurePosixPath(target).relative_to(mount_target)).resolve()
    raise AssertionError(f"{service}: nothing mounted at {target}")


# -- the schema ----------------------------------------------------------------
def test_vendored_schema_is_the_one_noted() -> None:
    digest = hashlib.sha256((DATA / "compose-spec.json").read_bytes()).hexdigest()
    assert digest == COMPOSE_SCHEMA_SHA256, "tests/deploy/data/compose-spec.json changed: update its README"


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((DATA / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_the_schema_catches_a_misspelt_key() -> None:
    """The validation has teeth: a typo in a healthcheck is an error."""
    schema = json.loads((DATA / "compose-spec.json").read_text())
    broken = json.loads(json.dumps(compose()))
    broken["services"]["worker-1"]["healthcheck"]["intervall"] = "5s"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


# -- services and images -------------------------------------------------------------
def test_the_stack_has_every_service() -> None:
    assert set(services()) == SERVICES


def test_third_party_images_are_official_and_pinned() -> None:
    for name, repository in OFFICIAL_IMAGES.items():
        image = services()[name]["image"]
        repo, _, tag = image.partition(":")
        assert repo == repository, f"{name}: {image}"
        assert tag and tag != "latest" and re.match(r"v?\d", tag), f"{name}: pin a version, not {image!r}"
        assert "build" not in services()[name]


def test_app_services_run_the_image_built_from_the_dockerfile() -> None:
    for name in APP_SERVICES:
        service = services()[name]
        assert service["image"] == f"slo-engine:{project_version()}", name
        build = service["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == ROOT / "Dockerfile", name


def test_kafka_runs_in_kraft_mode() -> None:
    env = env_of("kafka")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:9093"
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols)
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    # Containers reach the broker at kafka:<PLAINTEXT port>; the host at localhost:<published>.
    assert advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]] == "kafka" + listeners["PLAINTEXT"]
    assert advertised["HOST"] == f"localhost:{PUBLISHED['kafka']}"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # the topics job creates them
    assert env["KAFKA_LOG_DIRS"] in {target for _, target, _ in mounts("kafka")}


def test_published_ports() -> None:
    seen: dict[int, str] = {}
    for name, service in services().items():
        for spec in service.get("ports", []):
            host, _, container = str(spec).partition(":")
            assert int(host) not in seen, f"host port {host} published twice ({seen.get(int(host))}, {name})"
            seen[int(host)] = name
            if name in WORKERS:
                assert int(container) == int(env_of(name)["SLO_API_PORT"])
    assert {name: port for port, name in seen.items()} == PUBLISHED


def test_mount_sources_exist() -> None:
    declared = set(compose().get("volumes") or {})
    used = set()
    for name in services():
        for source, target, read_only in mounts(name):
            assert target.startswith("/"), f"{name}: {target}"
            if source.startswith((".", "/")):
                path = (ROOT / source).resolve()
                assert path.exists(), f"{name}: {source} is not in the repo"
                assert path.is_relative_to(ROOT), f"{name}: {source} is outside the repo"
                assert read_only, f"{name}: mount repo files read-only ({source})"
            else:
                assert source in declared, f"{name}: named volume {source} is not declared"
                used.add(source)
    assert used == declared, f"declared but unused volumes: {declared - used}"


# -- order ---------------------------------------------------------------------
def test_depends_on_conditions_can_be_met() -> None:
    for name, service in services().items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: give depends_on conditions"
        for target, spec in depends.items():
            assert target in services(), f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services()[target], f"{name} waits for {target}'s health: it has no check"
            elif condition == "service_completed_successfully":
                assert services()[target].get("restart", "no") == "no", f"{target} must run once"
            else:
                pytest.fail(f"{name} -> {target}: use service_healthy or service_completed_successfully")


def test_start_up_order() -> None:
    """No cycle, and the order the compose file's header describes."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        assert name not in visiting, f"depends_on cycle through {name}"
        visiting.add(name)
        for target in services()[name].get("depends_on", {}):
            visit(target)
        order.append(name)

    for name in services():
        visit(name)
    before = order.index
    assert before("kafka") < before("topics") < before("worker-1") < before("producer")
    assert before("redis") < before("worker-2") < before("producer")
    assert before("alertmanager") < before("prometheus") < before("grafana")


def test_servers_have_healthchecks() -> None:
    """Every server of the stack; not the one-shot job, nor the demo producer (a
    client that nothing waits for)."""
    for name, service in services().items():
        if name in {"topics", "producer"}:
            continue
        check = service.get("healthcheck")
        assert check and check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: no healthcheck"


# -- what the app is given -------------------------------------------------------
def test_worker_environment_is_what_the_app_reads() -> None:
    for name in APP_SERVICES:
        unknown = set(env_of(name)) - app_env_vars()
        assert not unknown, f"{name} sets variables the app never reads: {sorted(unknown)}"


def test_worker_settings_from_the_compose_environment() -> None:
    ids = set()
    for name in WORKERS:
        env = {key: interpolate_defaults(value) for key, value in env_of(name).items()}
        settings = WorkerSettings.from_env(env)
        assert settings.api_host == "0.0.0.0", "the API must listen beyond the container's loopback"
        assert settings.api_port == 8080
        assert settings.bootstrap == "kafka:9092"
        assert settings.redis_url is not None and settings.redis_url.startswith("redis://redis:")
        assert settings.api_token, "mutating endpoints need a token"
        assert settings.topology_path is not None
        assert mounted_from(name, str(settings.topology_path)) == COMPOSE_TOPOLOGY
        ids.add(settings.worker_id)
    assert len(ids) == len(WORKERS)


def test_commands_parse_with_the_app_cli() -> None:
    parser = build_parser()
    for name in (*WORKERS, "producer"):
        args = parser.parse_args(services()[name]["command"])
        assert args.command == ("run" if name in WORKERS else "produce-demo")
        if args.topology is not None:
            assert mounted_from(name, str(args.topology)) == COMPOSE_TOPOLOGY
        if args.bootstrap is not None:
            assert args.bootstrap == env_of("worker-1")["KAFKA_BOOTSTRAP_SERVERS"]


def test_workers_form_one_consumer_group() -> None:
    """Same topology file (its name is the group id) and the same settings but the id."""
    first, second = (env_of(name) for name in WORKERS)
    assert {k: v for k, v in first.items() if k != "SLO_WORKER_ID"} == {
        k: v for k, v in second.items() if k != "SLO_WORKER_ID"
    }
    assert services()["worker-1"]["command"] == services()["worker-2"]["command"]


def test_worker_healthcheck_asks_readyz_on_the_api_port() -> None:
    for name in WORKERS:
        check = " ".join(services()[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{env_of(name)['SLO_API_PORT']}/readyz" in check


def test_deploy_topology_enables_the_alertmanager_sink() -> None:
    topology = load_topology(COMPOSE_TOPOLOGY)
    assert topology.sinks.kafka_alerts
    assert topology.sinks.alertmanager is not None
    assert topology.sinks.alertmanager.url == "http://alertmanager:9093"
    assert "9093" in {str(p).split(":")[-1] for p in services()["alertmanager"]["ports"]}
    assert topology.slos, "the stack's topology defines the demo SLOs"
    assert topology.partitions >= len(WORKERS)
    assert topology.replication_factor == 1, "one broker in the stack"


def test_prometheus_and_grafana_get_their_files() -> None:
    assert mounted_from("prometheus", "/etc/prometheus/prometheus.yml") == ROOT / "deploy/prometheus/prometheus.yml"
    rule_files = load_yaml(ROOT / "deploy/prometheus/prometheus.yml")["rule_files"]
    for rule_file in rule_files:
        assert mounted_from("prometheus", str(PurePosixPath("/etc/prometheus") / rule_file)).exists()
    config = "/etc/alertmanager/alertmanager.yml"
    assert mounted_from("alertmanager", config) == ROOT / "deploy/alertmanager/alertmanager.yml"
    assert f"--config.file={config}" in services()["alertmanager"]["command"]
    home = env_of("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mounted_from("grafana", home) == ROOT / "deploy/grafana/slo-engine.json"


# -- the topics job ------------------------------------------------------------------
def topics_script() -> Path:
    entrypoint = services()["topics"]["entrypoint"]
    assert entrypoint[0] == "python"
    return mounted_from("topics", entrypoint[1])


def test_topics_job_reads_only_app_settings() -> None:
    assert set(env_of("topics")) == {"KAFKA_BOOTSTRAP_SERVERS", "SLO_TOPOLOGY"}
    assert mounted_from("topics", env_of("topics")["SLO_TOPOLOGY"]) == COMPOSE_TOPOLOGY


@pytest.mark.kafka
def test_topics_job_creates_the_topology_topics(bootstrap: str) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SLO_TOPOLOGY": str(COMPOSE_TOPOLOGY), "PATH": "/usr/bin:/bin"}
    for _ in range(2):  # a second `docker compose up` finds them and succeeds too
        result = subprocess.run(
            [sys.executable, str(topics_script())], env=env, cwd="/", capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr
    topology = load_topology(COMPOSE_TOPOLOGY)
    t = topology.topics
    wanted = {
        t.metrics: topology.partitions,
        t.status: topology.partitions,
        t.dead_letter: topology.partitions,
        t.alerts: topology.partitions,
        t.reports: topology.partitions,
        t.definitions: 1,
        changelog_topic(topology): topology.partitions,
    }

    async def partitions() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(list(wanted))
        finally:
            await admin.close()
        return {d["topic"]: len(d["partitions"]) for d in described}

    assert asyncio.run(partitions()) == wanted


# -- the Dockerfile -----------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            result.append((instruction.upper(), args.strip()))
    return result


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile():
        if instruction == "ENV":
            env.update(dict(item.split("=", 1) for item in shlex.split(args)))
    return env


def copied_sources() -> list[str]:
    sources = []
    for instruction, args in dockerfile():
        if instruction == "COPY":
            parts = [p for p in args.split() if not p.startswith("--")]
            sources += parts[:-1]
    return sources


def test_dockerfile_builds_the_worker_image() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert ("ENTRYPOINT", '["python", "-m", "app"]') in steps
    assert ("CMD", '["run"]') in steps
    assert any(i == "RUN" and "pip install" in a for i, a in steps)
    user = [a for i, a in steps if i == "USER"]
    assert user and user[-1].isdigit() and user[-1] != "0", "run as a numeric non-root user (runAsNonRoot)"
    env = dockerfile_env()
    assert set(env) - {k for k in env if k.startswith(("PYTHON", "PIP_"))} <= app_env_vars()
    assert env["SLO_API_HOST"] == "0.0.0.0"
    assert load_topology(ROOT / next(s for s in copied_sources() if s.endswith(".yaml"))).slos
    assert ("EXPOSE", env["SLO_API_PORT"]) in steps


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    excluded = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        if re.fullmatch(regex + "(/.*)?", path):
            excluded = not negate
    return excluded


def test_dockerfile_copies_exist_and_pass_the_dockerignore() -> None:
    for source in copied_sources():
        assert (ROOT / source).exists(), source
        assert not dockerignore_excludes(source), f".dockerignore keeps {source} out of the build context"
    for heavy in (".venv", ".git", "benchmarks/data", "tests", "deploy"):
        assert dockerignore_excludes(heavy), f"{heavy} should stay out of the build context"


def test_copied_files_build_the_package(tmp_path: Path) -> None:
    """`pip install /src` in the image: an sdist built from exactly what the
    Dockerfile copies holds every module of the app."""
    src = tmp_path / "src"
    src.mkdir()
    for source in copied_sources():
        if source.endswith(".yaml"):
            continue
        target = src / source
        if (ROOT / source).is_dir():
            subprocess.run(["cp", "-r", str(ROOT / source), str(target)], check=True)
        else:
            target.write_bytes((ROOT / source).read_bytes())
    build = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))",
            str(tmp_path / "dist"),
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    sdist = tmp_path / "dist" / build.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        shipped = {PurePosixPath(*PurePosixPath(n).parts[1:]).as_posix() for n in archive.getnames()}
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "app").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules <= shipped, f"missing from the image: {sorted(modules - shipped)}"


# -- a worker started as compose starts it -------------------------------------------
@pytest.mark.kafka
@pytest.mark.slow
def test_a_worker_with_the_compose_settings_passes_its_healthcheck(bootstrap: str, tmp_path: Path) -> None:
    """`python -m app run` with worker-1's command and environment (the broker's and
    the API's addresses swapped for this machine's, no Redis) becomes healthy by
    the compose healthcheck's own command, and serves the metrics the dashboard reads."""
    port = free_port()
    env = {key: interpolate_defaults(value) for key, value in env_of("worker-1").items()}
    env.pop("REDIS_URL")
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SLO_TOPOLOGY": str(COMPOSE_TOPOLOGY),
        "SLO_API_PORT": str(port),
        "PATH": "/usr/bin:/bin",
    }
    check = services()["worker-1"]["healthcheck"]["test"][1:]
    check = [sys.executable if part == "python" else part.replace(":8080/", f":{port}/") for part in check]
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", *services()["worker-1"]["command"]],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(check, capture_output=True, timeout=10).returncode != 0:
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "not healthy after 60 s\n" + log.read_text()
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            exposition = response.read().decode()
        for name in ("slo_worker_events_in_total", "slo_worker_partitions_owned", "slo_worker_recovery_seconds"):
            assert re.search(rf"^{name}(\{{.*\}})? ", exposition, re.M), f"{name} not exported\n{exposition}"
    finally:
        worker.terminate()
        try:
            assert worker.wait(timeout=30) == 0, log.read_text()  # SIGTERM: a clean stop
        finally:
            worker.kill()
