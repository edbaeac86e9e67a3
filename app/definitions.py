"""Loading SLO definitions: YAML/JSON documents with a top-level `slos:` list (and an
optional `adjustments:` list of budget adjustments)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.domain.adjustments import AdjustmentDefinition
from app.domain.models import SLO
from app.errors import InvalidDefinition


def field_path(prefix: str, loc: Iterable[int | str]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse_slo(data: Any, where: str = "slo") -> SLO:
    """One SLO from plain data; InvalidDefinition names the first field at fault."""
    try:
        return SLO.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        slo_id = data.get("slo_id") if isinstance(data, dict) else None
        raise InvalidDefinition(
            field_path(where, first["loc"]), first["msg"], slo_id if isinstance(slo_id, str) else None
        ) from exc


def parse_slos(document: Any) -> list[SLO]:
    if not isinstance(document, dict) or not isinstance(document.get("slos"), list):
        raise InvalidDefinition("slos", "expected a mapping with a list under 'slos'")
    slos: list[SLO] = []
    seen: set[str] = set()
    for i, item in enumerate(document["slos"]):
        slo = parse_slo(item, f"slos[{i}]")
        if slo.slo_id in seen:
            raise InvalidDefinition(f"slos[{i}].slo_id", "duplicate slo_id", slo.slo_id)
        seen.add(slo.slo_id)
        slos.append(slo)
    return slos


def parse_adjustment(data: Any, where: str = "adjustment") -> AdjustmentDefinition:
    """One budget adjustment from plain data; InvalidDefinition names the first field at fault."""
    try:
        return AdjustmentDefinition.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidDefinition(field_path(where, first["loc"]), first["msg"]) from exc


def parse_adjustments(document: Any) -> list[AdjustmentDefinition]:
    """The `adjustments:` list of a document (none when the key is absent)."""
    items = document.get("adjustments") if isinstance(document, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise InvalidDefinition("adjustments", "expected a list")
    out: list[AdjustmentDefinition] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        adjustment = parse_adjustment(item, f"adjustments[{i}]")
        if adjustment.adjustment_id in seen:
            raise InvalidDefinition(f"adjustments[{i}].adjustment_id", f"duplicate {adjustment.adjustment_id!r}")
        seen.add(adjustment.adjustment_id)
        out.append(adjustment)
    return out


def load_definitions(path: Path) -> tuple[list[SLO], list[AdjustmentDefinition]]:
    """A definitions file's SLOs and budget adjustments."""
    document = read_yaml(path)
    return parse_slos(document), parse_adjustments(document)


def load_slos(path: Path) -> list[SLO]:
    """Read a definitions file (YAML, so JSON works too)."""
    return parse_slos(read_yaml(path))


def read_yaml(path: Path) -> Any:
    """A YAML (or JSON) document from a file; InvalidDefinition when unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidDefinition(str(path), f"cannot read: {exc.strerror}") from exc
    try:
        return yaml.safe_load(raw)  # bytes: YAML checks the encoding itself
    except yaml.YAMLError as exc:
        raise InvalidDefinition(str(path), f"not valid YAML: {exc}") from exc
