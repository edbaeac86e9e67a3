"""Pieces of benchmarks/scale_bench.py: worker subprocesses with their RSS, logs and
/metrics, definitions published in bulk, status receipt times, py-spy profiles.

The worker is stream_bench's WorkerProcess (`python -m app run --quiet`) started
with its HTTP API on a free port (for /metrics) and these loggers:
`app.stream.worker` at INFO ("assigned partitions [...]: N changelog records
recovered in Xs"), `app.stream.timer` at DEBUG ("timer tick N done"). Log
lines carry the worker's wall clock (ms resolution, local time), which this
process compares with its own `time.time()`: same machine, same clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stream_bench as sb
from aiokafka import AIOKafkaProducer

from app.stream.broker import free_port
from app.stream.definitions_feed import encode_slo
from app.stream.settings import WorkerSettings

LOG_LEVEL = "WARNING,app.stream.worker=INFO,app.stream.timer=DEBUG"
_LOG_TIME = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_ASSIGNED = re.compile(rb"assigned partitions \[([\d, ]*)\]: (\d+) changelog records recovered in ([\d.]+)s")
_RELEASED = re.compile(rb"released partitions \[([\d, ]*)\]")
GAUGES = (
    "slo_timer_pass_seconds",
    "slo_timer_longest_hold_seconds",
    "slo_worker_recovery_seconds",
    "slo_worker_partitions_owned",
)


def session_env(spec: str) -> tuple[dict[str, str], str]:
    """`2000/200` -> explicit SLO_SESSION_TIMEOUT_MS / SLO_HEARTBEAT_INTERVAL_MS;
    `default` -> neither set (the code's defaults, named in the label)."""
    if spec == "default":
        d = WorkerSettings.model_fields
        return {}, f"default ({d['session_timeout_ms'].default}/{d['heartbeat_interval_ms'].default} ms)"
    session, heartbeat = spec.split("/")
    env = {"SLO_SESSION_TIMEOUT_MS": str(int(session)), "SLO_HEARTBEAT_INTERVAL_MS": str(int(heartbeat))}
    return env, f"{session}/{heartbeat} ms"


def log_time_s(line: bytes) -> float | None:
    m = _LOG_TIME.match(line)
    if m is None:
        return None
    return dt.datetime.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as logged


@dataclass
class Assignment:
    at_s: float  # wall clock of the log line (after the recovery it reports)
    partitions: list[int]
    records: int
    recovery_s: float


def _parts(text: bytes) -> list[int]:
    return [int(x) for x in text.split(b",") if x.strip()]


class ScaleWorker(sb.WorkerProcess):
    """A worker with its API on a free port (for /metrics) and the loggers above."""

    def __init__(
        self,
        bootstrap: str,
        topology_path: Path,
        workdir: Path,
        name: str,
        fetch_wait_ms: int = 5,
        env: dict[str, str] | None = None,
    ) -> None:
        self.api_port = free_port()
        self.name = name
        super().__init__(
            bootstrap,
            topology_path,
            fetch_wait_ms,
            workdir,
            name=name,
            env_extra={"SLO_API_PORT": str(self.api_port), "SLO_WORKER_ID": name, **(env or {})},
            args_extra=["--log-level", LOG_LEVEL],
        )
        self.spawned_wall_s = time.time()

    # -- memory and CPU --------------------------------------------------------
    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) in bytes; empty once the process is gone."""
        out: dict[str, int] = {}
        with contextlib.suppress(OSError), open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) * 1024
        return out

    def rss(self) -> int:
        return self.memory().get("VmRSS", 0)

    def cpu_s(self) -> float:
        return sb.proc_cpu_s(self.pid)

    # -- logs ------------------------------------------------------------------
    def log_lines(self) -> list[bytes]:
        return self.err_path.read_bytes().splitlines()

    def assignments(self) -> list[Assignment]:
        out = []
        for line in self.log_lines():
            m = _ASSIGNED.search(line)
            if m:
                out.append(Assignment(log_time_s(line) or 0.0, _parts(m.group(1)), int(m.group(2)), float(m.group(3))))
        return out

    def releases(self) -> list[tuple[float, list[int]]]:
        out = []
        for line in self.log_lines():
            m = _RELEASED.search(line)
            if m:
                out.append((log_time_s(line) or 0.0, _parts(m.group(1))))
        return out

    def owned(self) -> set[int]:
        """Partitions owned per the logs: the latest assignment, minus releases after it;
        none after a lost membership (until the next assignment)."""
        events: list[tuple[float, int, list[int]]] = [(a.at_s, 2, a.partitions) for a in self.assignments()]
        events += [(t, 1, p) for t, p in self.releases()]
        events += [(t, 0, []) for t in self.trouble_times()]
        owned: set[int] = set()
        for _t, kind, parts in sorted(events, key=lambda e: (e[0], e[1])):
            owned = owned | set(parts) if kind == 2 else owned - set(parts) if kind == 1 else set()
        return owned

    def trouble_times(self) -> list[float]:
        """When the log says the worker lost its group membership (missed heartbeats)."""
        marks = (b"session expired", b"was not recognized", b"UnknownMemberId")
        return [log_time_s(line) or 0.0 for line in self.log_lines() if any(m in line for m in marks)]

    def rebalance_notices(self) -> list[float]:
        """When aiokafka logged that the group is rebalancing (a heartbeat answered so)."""
        return [log_time_s(line) or 0.0 for line in self.log_lines() if b"because it is rebalancing" in line]

    def group_trouble(self) -> int:
        return len(self.trouble_times())

    def ticks(self) -> list[float]:
        """Wall-clock end of every timer pass."""
        return [t for line in self.log_lines() if b"timer tick" in line and (t := log_time_s(line)) is not None]

    def kill(self) -> float:
        """SIGKILL; returns the wall clock just before the signal."""
        at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        return at

    # -- /metrics --------------------------------------------------------------
    def scrape(self, timeout_s: float = 300.0) -> dict[str, float]:
        """The worker gauges above, plus the scrape's own duration and size (every SLO's
        series are rendered on the worker's event loop: at 100k SLOs that is a stall)."""
        t0 = time.perf_counter()
        url = f"http://127.0.0.1:{self.api_port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            body = resp.read()
        out: dict[str, float] = {"scrape_s": time.perf_counter() - t0, "scrape_bytes": float(len(body))}
        for line in body.split(b"\n"):
            if line.startswith(b"slo_t") or line.startswith(b"slo_worker_recovery") or line.startswith(b"slo_worker_p"):
                name, _, value = line.decode().partition(" ")
                if name in GAUGES:
                    out[name] = float(value)
        return out

    async def ascrape(self) -> dict[str, float]:
        return await asyncio.to_thread(self.scrape)


async def wait_log(worker: ScaleWorker, predicate: Any, timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll the worker's log until predicate(worker) holds."""
    deadline = time.monotonic() + timeout_s
    while not predicate(worker):
        if worker.proc.poll() is not None or time.monotonic() > deadline:
            return False
        await asyncio.sleep(step_s)
    return True


async def wait_stable(workers: list[ScaleWorker], n_partitions: int, timeout_s: float, settle_s: float = 1.0) -> float:
    """Wait until the workers' logged assignments are disjoint, cover every partition and
    stay so for `settle_s`; returns the wall clock of the last assignment line (the
    group's final rebalance done)."""
    deadline = time.monotonic() + timeout_s
    since: tuple[float, list[set[int]]] | None = None  # a settled state must hold for `settle_s`
    while True:
        owned = [w.owned() for w in workers]
        union = set().union(*owned)
        if len(union) == n_partitions and sum(len(o) for o in owned) == n_partitions and all(owned):
            if since is None or since[1] != owned:
                since = (time.monotonic(), owned)
            elif time.monotonic() - since[0] >= settle_s:
                return max(w.assignments()[-1].at_s for w in workers)
        else:
            since = None
        if time.monotonic() > deadline:
            raise RuntimeError(f"group not stable after {timeout_s}s: {[sorted(o) for o in owned]}")
        for w in workers:
            if w.proc.poll() is not None:
                raise RuntimeError(f"worker {w.name} exited: {w.err_path.read_text()[-2000:]}")
        await asyncio.sleep(0.05)


# -- definitions ----------------------------------------------------------------------
async def publish_definitions(bootstrap: str, topic: str, slos: list[Any]) -> float:
    """Every SLO to the definitions topic in big batches (what `POST /slos` or a GitOps
    job would write); returns the seconds it took, acks included."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1, max_batch_size=512 * 1024)
    await producer.start()
    t0 = time.perf_counter()
    try:
        futures = []
        for slo in slos:
            futures.append(await producer.send(topic, encode_slo(slo), key=slo.slo_id.encode()))
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - t0


async def warm_up(
    bootstrap: str, topic: str, ids: list[str], tracker: sb.Tracker, timeout_s: float, rate: int = 0
) -> float:
    """One primer event per SLO, sent as fast as the producer goes (or at `rate` per
    second); returns the seconds from the first send to the last SLO's first status."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1, max_batch_size=256 * 1024)
    await producer.start()
    clock = sb._Clock()
    tracker.measure = False
    t0 = time.time_ns()
    try:
        for s, sid in enumerate(ids):
            now_ns = time.time_ns()
            if rate and s % 50 == 0 and (ahead_s := s / rate - (now_ns - t0) / 1e9) > 0:
                await asyncio.sleep(ahead_s)
            tracker.sent(s, now_ns)
            await producer.send(topic, sb.event_bytes(sid, 0, now_ns, clock.stamp(now_ns)), key=sid.encode())
        await producer.flush()
    finally:
        await producer.stop()
    if not await sb.wait_until(lambda: tracker.incomplete == 0, timeout_s, 0.02):
        raise RuntimeError(f"warm-up: {tracker.incomplete} SLOs without a status after {timeout_s:.0f}s")
    return (tracker.last_cover_ns - t0) / 1e9


# -- status receipt times ---------------------------------------------------------------
class GapTracker(sb.Tracker):
    """stream_bench's Tracker, plus the receipt time of every status record (for the
    gaps between consecutive status events) and, once `watch` is set, the receipt time
    and worker timestamp of every status event of the watched SLO indexes; the SLO of
    every measured latency (lat_idx, parallel to lat_ns)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(ids)
        self.recv_ns: list[int] = []
        self.watch: set[int] | None = None
        self.watched: list[tuple[int, int, str]] = []  # (recv ns, slo index, status timestamp)
        self.lat_idx: list[int] = []  # the SLO index of each entry of lat_ns

    def received(self, recv_ns: int, value: bytes) -> None:
        if not self.recv_ns or self.recv_ns[-1] != recv_ns:
            self.recv_ns.append(recv_ns)
        before = len(self.lat_ns)
        super().received(recv_ns, value)
        added = len(self.lat_ns) - before
        if added or self.watch is not None:
            st = sb._status_decoder.decode(value)
            i = self.index.get(st.slo_status_update.slo_id, -1)
            self.lat_idx.extend([i] * added)
            if self.watch is not None and i in self.watch:
                self.watched.append((recv_ns, i, st.timestamp))


def gaps_s(recv_ns: list[int], start_s: float, end_s: float) -> tuple[float, float]:
    """(largest gap, p99 of gaps) between consecutive status receipts inside [start, end]."""
    lo, hi = int(start_s * 1e9), int(end_s * 1e9)
    xs = [t for t in recv_ns if lo <= t <= hi]
    if len(xs) < 2:
        return float("nan"), float("nan")
    import numpy as np

    d = np.diff(np.asarray(xs, dtype=np.int64)) / 1e9
    return float(d.max()), float(np.percentile(d, 99))


# -- profiles -------------------------------------------------------------------------------
PY_SPY = shutil.which("py-spy") or str(Path(sb.sys.executable).parent / "py-spy")


@dataclass
class Profile:
    """A py-spy recording of a worker (raw collapsed stacks), stopped by SIGINT."""

    path: Path
    proc: subprocess.Popen[bytes] | None = None
    summary: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, pid: int, path: Path, max_s: float = 600.0, rate: int = 100) -> Profile:
        if not Path(PY_SPY).exists():
            print("  (py-spy not installed: no profile)")
            return cls(path)
        options = ["-r", str(rate), "-d", str(int(max_s)), "--nonblocking", "-F", "-f", "raw", "-o", str(path)]
        proc = subprocess.Popen(
            [PY_SPY, "record", "-p", str(pid), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return cls(path, proc)

    def stop(self, top: int = 12) -> list[str]:
        if self.proc is None:
            return []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.summary = summarize(self.path, top) if self.path.exists() else ["(no samples written)"]
        return self.summary


def dump_stack(pid: int, lines: int = 14) -> list[str]:
    """The Python stack of a (stuck) process's threads now, by py-spy dump."""
    if not Path(PY_SPY).exists():
        return ["(py-spy not installed)"]
    proc = subprocess.run([PY_SPY, "dump", "-p", str(pid)], capture_output=True, text=True, timeout=60)
    out = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    return out[:lines] or [proc.stderr.strip()[:300]]


def summarize(path: Path, top: int) -> list[str]:
    """Top functions by own samples, and by inclusive samples among the project's frames."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        own[_short(frames[-1])] += n
        for f in {_short(f) for f in frames if "/app/" in f or "(app/" in f}:
            incl[f] += n
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples; own time: " + "; ".join(f"{f} {n / total:.0%}" for f, n in own.most_common(top))]
    lines.append("inclusive (app/ frames): " + "; ".join(f"{f} {n / total:.0%}" for f, n in incl.most_common(top)))
    return lines


def _short(frame: str) -> str:
    """`func (path/to/file.py:123)` -> `func (file.py:123)`."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1]}" if where else name
