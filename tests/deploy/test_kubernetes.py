"""The Kubernetes manifests (deploy/kubernetes), rendered as kustomize renders them.

Schemas, offline:
- built-in kinds: kubernetes-validate (PyPI; bundles the Kubernetes JSON schemas),
  strict mode (an unknown field is an error);
- ServiceMonitor and PrometheusRule: cloudcoil-models-prometheus-operator (PyPI;
  pydantic models generated from prometheus-operator's CRD schemas), plus a
  round trip so that an unknown field, which the models would drop, fails too.
promtool checks the PrometheusRule's groups, which must be exactly what
`python -m app export prometheus-rules` makes of the manifests' topology.

`kubectl kustomize` renders the manifests where kubectl is installed; elsewhere a
small renderer here does the same for the features kustomization.yaml uses, and
where both exist a test checks they agree.
"""

from __future__ import annotations

import copy
import re
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.topology import load_topology
from tests.deploy.helpers import (
    COMPOSE_TOPOLOGY,
    K8S_DIR,
    K8S_TOPOLOGY,
    KUBECTL,
    PROMTOOL,
    ROOT,
    app_env_vars,
    compose,
    export_rules,
    load_yaml,
    run_tool,
)

KUSTOMIZATION = K8S_DIR / "kustomization.yaml"
SECRET_EXAMPLE = K8S_DIR / "secret.example.yaml"
HASH = "HASH"  # stands for the content hash kustomize appends to generated names
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
# Oldest Kubernetes these manifests target, and the newest schemas the validator has.
K8S_VERSIONS = ("1.29", kubernetes_validate.latest_version())
RENDERER_FEATURES = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator", "images"}


# -- rendering -------------------------------------------------------------------------
def pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        yield doc["spec"]["template"]["spec"]


def render_here() -> list[dict[str, Any]]:
    """kustomize build, for the features deploy/kubernetes/kustomization.yaml uses."""
    k = load_yaml(KUSTOMIZATION)
    unsupported = set(k) - RENDERER_FEATURES
    assert not unsupported, f"teach render_here() {sorted(unsupported)} (or install kubectl)"
    docs: list[dict[str, Any]] = []
    for resource in k["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S_DIR / resource).read_text()) if d]
    generated: dict[str, str] = {}
    for generator in k.get("configMapGenerator", []):
        assert set(generator) <= {"name", "files"}, generator
        data = {}
        for entry in generator["files"]:
            key, _, path = entry.rpartition("=")
            data[key or PurePosixPath(path).name] = (K8S_DIR / path).read_text()
        generated[generator["name"]] = f"{generator['name']}-{HASH}"
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generated[generator["name"]]}})
        docs[-1]["data"] = data
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = k["namespace"]
        for labels in k.get("labels", []):
            assert not labels.get("includeSelectors") and not labels.get("includeTemplates"), labels
            meta.setdefault("labels", {}).update(labels["pairs"])
        for spec in pod_specs(doc):
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    volume["configMap"]["name"] = generated.get(
                        volume["configMap"]["name"], volume["configMap"]["name"]
                    )
            for container in spec["containers"]:
                for image in k.get("images", []):
                    name, _, _ = container["image"].partition(":")
                    if name == image["name"]:
                        container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    return docs


def render_kubectl() -> list[dict[str, Any]]:
    assert KUBECTL is not None
    result = subprocess.run([KUBECTL, "kustomize", str(K8S_DIR)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = re.sub(r"(slo-engine-topology)-[a-z0-9]{10}\b", rf"\1-{HASH}", result.stdout)
    return [d for d in yaml.safe_load_all(text) if d]


@cache
def _rendered() -> tuple[dict[str, Any], ...]:
    return tuple(render_kubectl() if KUBECTL else render_here())


def rendered() -> list[dict[str, Any]]:
    return copy.deepcopy(list(_rendered()))


def one(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in rendered() if d["kind"] == kind]
    return doc


def worker_container() -> dict[str, Any]:
    (container,) = one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: its kustomize is compared when present")
def test_kubectl_kustomize_agrees_with_the_renderer_here() -> None:
    ours = {key(d): d for d in render_here()}
    theirs = {key(d): d for d in render_kubectl()}
    assert ours == theirs


def test_resources_present() -> None:
    kinds = sorted(key(d) for d in rendered())
    assert kinds == sorted(
        [
            ("Namespace", "slo-engine"),
            ("ConfigMap", f"slo-engine-topology-{HASH}"),
            ("Deployment", "slo-engine"),
            ("Service", "slo-engine"),
            ("PodDisruptionBudget", "slo-engine"),
            ("ServiceMonitor", "slo-engine"),
            ("PrometheusRule", "slo-engine"),
        ]
    )
    namespace = load_yaml(KUSTOMIZATION)["namespace"]
    for doc in rendered():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, key(doc)


# -- schemas ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_kinds_match_the_kubernetes_schemas(version: str) -> None:
    checked = set()
    for doc in rendered():
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{key(doc)} against Kubernetes {version}: {path}: {exc.message}")
        checked.add(doc["kind"])
    assert checked == {"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}


def test_the_secret_example_matches_the_schema() -> None:
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(load_yaml(SECRET_EXAMPLE), version, strict=True)


def test_the_kubernetes_validation_has_teeth() -> None:
    deployment = one("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def validate_crd(doc: dict[str, Any]) -> None:
    """Validate against the CRD's schema (pydantic models generated from it); the
    models ignore unknown fields, so a field lost in the round trip is an error too,
    as it is to `kubectl apply` (strict field validation)."""
    from cloudcoil.models.prometheus_operator import v1

    model = getattr(v1, doc["kind"]).model_validate(doc)
    assert model.model_dump(by_alias=True, exclude_unset=True, mode="json") == doc, (
        f"{key(doc)} has fields its CRD does not know"
    )


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PrometheusRule"])
def test_prometheus_operator_resources_match_their_crds(kind: str) -> None:
    validate_crd(one(kind))


def test_the_crd_validation_has_teeth() -> None:
    import pydantic

    monitor = one("ServiceMonitor")
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(AssertionError):
        validate_crd(monitor)
    monitor = one("ServiceMonitor")
    monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    with pytest.raises(pydantic.ValidationError):
        validate_crd(monitor)


# -- the PrometheusRule ----------------------------------------------------------------
def test_prometheus_rule_groups_are_the_export() -> None:
    exported = yaml.safe_load(export_rules(K8S_TOPOLOGY))["groups"]
    assert one("PrometheusRule")["spec"]["groups"] == exported, (
        "deploy/kubernetes/prometheusrule.yaml is stale: run `python deploy/generate.py`"
    )


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_checks_the_prometheus_rule_groups(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": one("PrometheusRule")["spec"]["groups"]}, sort_keys=False))
    result = run_tool(PROMTOOL, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# -- the worker Deployment -------------------------------------------------------------
def test_probes_hit_readyz_and_healthz_on_the_api_port() -> None:
    container = worker_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    api_port = int(env(container)["SLO_API_PORT"]["value"])
    assert ports["http"] == api_port
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_the_api_listens_beyond_loopback() -> None:
    assert env(worker_container())["SLO_API_HOST"]["value"] == "0.0.0.0"


def test_resources_have_requests_and_limits() -> None:
    resources = worker_container()["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}, kind


def test_environment_is_what_the_app_reads() -> None:
    names = set(env(worker_container()))
    assert names <= app_env_vars(), f"the app never reads {sorted(names - app_env_vars())}"
    assert {"KAFKA_BOOTSTRAP_SERVERS", "SLO_TOPOLOGY", "REDIS_URL", "SLO_API_TOKEN", "SLO_WORKER_ID"} <= names


def test_secrets_come_from_the_secret_the_example_shows() -> None:
    example = load_yaml(SECRET_EXAMPLE)
    refs = {
        name: item["valueFrom"]["secretKeyRef"]
        for name, item in env(worker_container()).items()
        if "secretKeyRef" in item.get("valueFrom", {})
    }
    assert set(refs) == {"SLO_API_TOKEN", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    for ref in refs.values():
        assert ref["name"] == example["metadata"]["name"]
        assert ref["key"] in example["stringData"]
    assert set(example["stringData"]) == {ref["key"] for ref in refs.values()}
    assert example["metadata"]["namespace"] == load_yaml(KUSTOMIZATION)["namespace"]


def test_the_secret_example_is_only_an_example() -> None:
    assert SECRET_EXAMPLE.name not in load_yaml(KUSTOMIZATION)["resources"]
    assert all(d["kind"] != "Secret" for d in rendered())
    values = load_yaml(SECRET_EXAMPLE)["stringData"]
    assert "CHANGE-ME" in values["api-token"] and "CHANGE-ME" in values["redis-url"]


def test_topology_comes_from_the_generated_configmap() -> None:
    deployment = one("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    container = worker_container()
    topology_path = PurePosixPath(env(container)["SLO_TOPOLOGY"]["value"])
    (mount,) = [m for m in container["volumeMounts"] if topology_path.parent == PurePosixPath(m["mountPath"])]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    configmap = one("ConfigMap")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"] == f"slo-engine-topology-{HASH}"
    assert configmap["data"][topology_path.name] == K8S_TOPOLOGY.read_text()


def test_the_image_is_the_one_compose_builds() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    image = worker_container()["image"]
    assert image == compose()["services"]["worker-1"]["image"] == f"slo-engine:{version}"


def test_worker_args_parse_with_the_app_cli() -> None:
    from app.cli import build_parser

    args = build_parser().parse_args(worker_container()["args"])
    assert args.command == "run" and not args.demo


def test_replicas_fit_the_partitions() -> None:
    replicas = one("Deployment")["spec"]["replicas"]
    assert 2 <= replicas <= load_topology(K8S_TOPOLOGY).partitions


def test_runs_as_the_images_non_root_user() -> None:
    spec = one("Deployment")["spec"]["template"]["spec"]
    dockerfile_user = [
        line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("USER")
    ]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert str(spec["securityContext"]["runAsUser"]) == dockerfile_user[-1]
    assert worker_container()["securityContext"]["readOnlyRootFilesystem"] is True


# -- selectors ---------------------------------------------------------------------------
def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_selectors_match() -> None:
    deployment = one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    assert selects(one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], pod_labels)
    service = one("Service")
    assert selects(service["spec"]["selector"], pod_labels)
    monitor = one("ServiceMonitor")
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    container_ports = {p["name"] for p in worker_container()["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports
        assert service_ports[endpoint["port"]]["targetPort"] in container_ports
        assert endpoint["path"] == "/metrics"


def test_disruption_budget_keeps_workers_running() -> None:
    budget = one("PodDisruptionBudget")["spec"]
    replicas = one("Deployment")["spec"]["replicas"]
    assert budget.get("maxUnavailable", replicas - budget.get("minAvailable", 0)) < replicas


# -- the topology ------------------------------------------------------------------------
def test_the_kubernetes_topology_loads_and_sends_to_alertmanager() -> None:
    topology = load_topology(K8S_TOPOLOGY)
    assert topology.sinks.kafka_alerts and topology.sinks.alertmanager is not None
    assert topology.replication_factor == 3


def test_both_deployments_serve_the_same_slos() -> None:
    """The compose stack and the cluster run the same SLOs (so the dashboard and the
    rules read alike); they differ in sinks and replication. Change both files."""
    compose_topology, k8s_topology = load_topology(COMPOSE_TOPOLOGY), load_topology(K8S_TOPOLOGY)
    assert compose_topology.slos == k8s_topology.slos
    assert compose_topology.topics == k8s_topology.topics
    assert compose_topology.name == k8s_topology.name
