"""What the deploy tests share: the repo's files, what the app really reads and
exports (taken from the app's own code, not restated), and the rule export."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from app.stream.metrics import WorkerMetrics
from app.stream.settings import WorkerSettings, variable_of

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_TOPOLOGY = DEPLOY / "topology.yaml"
K8S_DIR = DEPLOY / "kubernetes"
K8S_TOPOLOGY = K8S_DIR / "topology.yaml"

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
KUBECTL = shutil.which("kubectl")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@cache
def compose() -> dict[str, Any]:
    """docker-compose.yml as compose sees it (PyYAML resolves the `<<` merge keys)."""
    data: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return data


@cache
def app_env_vars() -> frozenset[str]:
    """The environment variables WorkerSettings reads: one per field (its alias)."""
    names = frozenset(variable_of(name) for name in WorkerSettings.model_fields)
    assert names, "found no environment variables in WorkerSettings"
    return names


@cache
def exported_metric_names() -> frozenset[str]:
    """Series names a worker exports, from its real registry. Prometheus sees a
    counter `x` as `x_total` (and `x_created`), a histogram `h` as `h_bucket`,
    `h_sum`, `h_count` (and `h_created`), a gauge under its own name."""
    names: set[str] = set()
    for family in WorkerMetrics().registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count", "created")}
        elif family.type == "summary":
            names |= {family.name, f"{family.name}_sum", f"{family.name}_count", f"{family.name}_created"}
        else:
            names.add(family.name)
    return frozenset(names)


@cache
def export_rules(topology: Path, at: str | None = None) -> str:
    """`python -m app export prometheus-rules --topology <topology>` (stdout)."""
    command = [sys.executable, "-m", "app", "export", "prometheus-rules", "--topology", str(topology)]
    if at is not None:
        command += ["--at", at]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout


def recording_rule_names(rules_text: str) -> frozenset[str]:
    return frozenset(
        rule["record"] for group in yaml.safe_load(rules_text)["groups"] for rule in group["rules"] if "record" in rule
    )


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


# -- PromQL ---------------------------------------------------------------------
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
)
_LITERALS = frozenset({"inf", "nan"})


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are neither
    functions, aggregations (followed by `(`), keywords, label names (inside
    `{...}` or a grouping clause) nor literals."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery selectors
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    text = re.sub(r"(?<![\w:])\d[\w.]*", " ", text)  # numbers and durations
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or name in _KEYWORDS or name.lower() in _LITERALS:
            continue
        names.add(name)
    return names
