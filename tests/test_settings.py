"""Worker settings: read by pydantic-settings from the environment, flags on top, and
documented by one generated table that the README carries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import InvalidSetting
from app.stream.settings import WorkerSettings, settings_table

ROOT = Path(__file__).resolve().parent.parent


def test_the_environment_then_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("SLO_SESSION_TIMEOUT_MS", "6000")
    monkeypatch.setenv("SLO_API_TOKEN", "")  # empty = unset
    settings = WorkerSettings.from_env(topology_path=Path("t.yaml"), bootstrap=None)
    assert settings.bootstrap == "kafka:9092"  # a flag not given does not override
    assert settings.session_timeout_ms == 6000
    assert settings.topology_path == Path("t.yaml")
    assert settings.api_token is None
    assert WorkerSettings.from_env(bootstrap="other:1").bootstrap == "other:1"


def test_a_given_mapping_is_read_instead_of_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLO_MAX_BATCH", "7")
    settings = WorkerSettings.from_env({"SLO_API_PORT": "0", "UNRELATED": "x"})
    assert (settings.api_port, settings.max_batch) == (0, 2000)


def test_a_bad_value_names_its_setting() -> None:
    with pytest.raises(InvalidSetting, match="SLO_SESSION_TIMEOUT_MS: Input should be a valid integer"):
        WorkerSettings.from_env({"SLO_SESSION_TIMEOUT_MS": "soon"})
    run = subprocess.run(
        [sys.executable, "-m", "app", "run"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SLO_MAX_BATCH": "0"},
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("error: SLO_MAX_BATCH: Input should be greater than")
    assert "Traceback" not in run.stderr


def test_the_readme_shows_the_generated_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "README's settings table is stale: paste `python -m app settings`"
    run = subprocess.run([sys.executable, "-m", "app", "settings"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and run.stdout == settings_table()
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "SLO_SESSION_TIMEOUT_MS", "REDIS_URL", "SLO_API_TOKEN"):
        assert f"| `{name}` |" in run.stdout
