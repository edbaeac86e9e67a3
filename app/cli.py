"""Command line: `python -m app <command>`. The edge where files and clocks live."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import msgspec

from app.compose import run_worker
from app.definitions import load_definitions, load_slos
from app.domain.events import timestamp_us
from app.errors import RejectedEvent, SloEngineError, UsageError
from app.replay import Prepared, prepare, replay_batch, replay_emit_all
from app.stream.commands import run_async, tail_status
from app.stream.demo import produce_demo
from app.stream.settings import WorkerSettings, settings_table
from app.topology import Topology, load_topology

_encode = msgspec.json.Encoder().encode


def _at(text: str) -> int:
    try:
        return timestamp_us(float(text) if text.replace(".", "", 1).isdigit() else text)
    except RejectedEvent as exc:
        raise argparse.ArgumentTypeError(exc.detail) from exc


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _read_events(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError("--events", f"cannot read {path}: {exc.strerror}") from exc


def cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    slos, adjustments = load_definitions(Path(args.slos))
    data = _read_events(args.events)
    prepared = prepare(
        slos,
        data,
        args.at,
        fallback_now_us=time.time_ns() // 1000,
        max_skew_us=round(args.max_skew * 1_000_000),
        adjustments=[a.to_core() for a in adjustments],
    )
    for r in prepared.rejections:
        err.write(f"line {r.line_no}: {r.reason}: {r.detail}\n")
    if (args.tick or args.alerts) and not args.emit_all:
        raise UsageError("--tick" if args.tick else "--alerts", "only with --emit-all")
    lines: Iterable[object] = (
        replay_emit_all(prepared, tick_us=round(args.tick * 1_000_000), alerts=args.alerts)
        if args.emit_all
        else replay_batch(prepared)
    )
    write = out.buffer.write if hasattr(out, "buffer") else None
    for line in lines:
        if write is not None:
            write(_encode(line) + b"\n")
        else:
            out.write(_encode(line).decode() + "\n")
    reasons = Counter(r.reason for r in prepared.rejections)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
    err.write(
        f"replay: {prepared.ts_us.size + prepared.excluded.ts_us.size} accepted{_excluded_note(prepared)}, "
        f"{len(prepared.rejections)} rejected" + (f" ({summary})" if summary else "") + "\n"
    )
    return 0


def _excluded_note(prepared: Prepared) -> str:
    n = prepared.excluded.ts_us.size
    return f" ({n} excluded by budget adjustments)" if n else ""


def cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from app.core.intervals import BadInterval, custom_interval, parse_period
    from app.domain.reports import ReportFormat, render
    from app.report import offline_report

    try:
        if args.period is not None:
            if args.from_ is not None or args.to is not None:
                raise UsageError("--period", "give either --period or --from/--to, not both")
            interval = parse_period(args.period, "--period")
        elif args.from_ is None or args.to is None:
            raise UsageError("--period", "give --period PERIOD, or both --from and --to")
        else:
            interval = custom_interval(args.from_, args.to, "--from/--to")
        slos, adjustments = load_definitions(Path(args.slos))
        data = _read_events(args.events)
        prepared = prepare(
            slos,
            data,
            args.at,
            fallback_now_us=time.time_ns() // 1000,
            max_skew_us=round(args.max_skew * 1_000_000),
            adjustments=[a.to_core() for a in adjustments],
        )
        report = offline_report(prepared, interval, args.service)
    except BadInterval as exc:
        flags = {"service": "--service", "period": "--period" if args.period is not None else "--from/--to"}
        argument = flags.get(exc.argument, exc.argument)
        raise UsageError(argument, exc.reason) from exc
    out.write(render(report, ReportFormat(args.format)))
    err.write(
        f"report: {interval.label}, {len(report.slos)} SLO(s), "
        f"{prepared.ts_us.size + prepared.excluded.ts_us.size} events accepted{_excluded_note(prepared)}, "
        f"{len(prepared.rejections)} rejected\n"
    )
    return 0


def _settings(args: argparse.Namespace) -> WorkerSettings:
    """The environment's settings, then the flags given."""
    return WorkerSettings.from_env(bootstrap=args.bootstrap, topology_path=args.topology)


def cmd_settings(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    out.write(settings_table())
    return 0


def _bootstrap(args: argparse.Namespace) -> str:
    bootstrap = _settings(args).bootstrap
    if not bootstrap:
        raise UsageError("--bootstrap", "give --bootstrap or set KAFKA_BOOTSTRAP_SERVERS")
    return bootstrap


_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_levels(text: str) -> tuple[str, dict[str, str]]:
    """`INFO` or `INFO,app.stream.timer=DEBUG`: the root level, then per-logger levels."""
    root, *rest = text.split(",")
    per_logger = dict(item.split("=", 1) for item in rest if "=" in item)
    bad = [lvl for lvl in (root, *per_logger.values()) if lvl.upper() not in _LEVELS]
    if bad or len(per_logger) != len(rest):
        raise argparse.ArgumentTypeError(f"{text!r}: expected LEVEL[,LOGGER=LEVEL...] with levels {', '.join(_LEVELS)}")
    return root.upper(), {name: lvl.upper() for name, lvl in per_logger.items()}


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    root_level, per_logger = args.log_level
    logging.basicConfig(level=root_level, stream=err, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name, level in per_logger.items():
        logging.getLogger(name).setLevel(level)
    settings = _settings(args)
    topology = load_topology(settings.topology_path)
    return run_async(run_worker(topology, settings, demo=args.demo, quiet=args.quiet, out=out))


def cmd_produce_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    settings = _settings(args)
    topology = load_topology(settings.topology_path)
    bootstrap = _bootstrap(args)
    out.write(f"producing demo traffic for {len(topology.slos)} SLOs to {topology.topics.metrics} at {bootstrap}\n")
    out.flush()
    return run_async(_produce(bootstrap, topology.topics.metrics, topology, args.duration))


async def _produce(bootstrap: str, topic: str, topology: Topology, duration: float | None) -> int:
    await produce_demo(bootstrap, topic, topology.slos, duration)
    return 0


def cmd_produce(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from app.stream.backfill import publish_events

    topology = load_topology(_settings(args).topology_path)
    bootstrap = _bootstrap(args)
    data = _read_events(args.events)
    result = asyncio.run(publish_events(bootstrap, topology.topics.metrics, data.splitlines()))
    for line_no, reason, detail in result.rejected:
        err.write(f"line {line_no}: {reason}: {detail}\n")
    out.write(f"produce: {result.sent} events sent to {topology.topics.metrics}, {len(result.rejected)} rejected\n")
    return 0


def cmd_tail_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    topology = load_topology(_settings(args).topology_path)
    topics = [topology.topics.status, *([topology.topics.alerts] if args.alerts else [])]
    return run_async(tail_status(_bootstrap(args), topics, args.from_beginning, args.json, out))


def cmd_export_prometheus_rules(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import yaml

    from app.export.prometheus_rules import prometheus_rules

    topology = load_topology(_settings(args).topology_path)
    now_us = args.at if args.at is not None else time.time_ns() // 1000
    out.write(yaml.safe_dump(prometheus_rules(topology.slos, now_us), sort_keys=False, width=200))
    return 0


def cmd_export_asyncapi(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from app.export.asyncapi import asyncapi, to_yaml

    _write_to(args.out, out, to_yaml(asyncapi()))
    return 0


def _write_to(path: Path | None, out: TextIO, text: str) -> None:
    if path is None:
        out.write(text)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError("--out", f"cannot write {path}: {exc.strerror}") from exc


def cmd_openslo_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import yaml

    from app.errors import InvalidDefinition
    from app.openslo import definitions_document, import_documents

    sources = []
    for path in args.files:
        try:
            sources.append((str(path), list(yaml.safe_load_all(path.read_bytes()))))
        except OSError as exc:
            raise InvalidDefinition(str(path), f"cannot read: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise InvalidDefinition(str(path), f"not valid YAML: {exc}") from exc
    slos = import_documents(sources)
    _write_to(args.out, out, yaml.safe_dump(definitions_document(slos), sort_keys=False, width=200))
    err.write(f"openslo import: {len(slos)} SLO(s) from {len(sources)} file(s)\n")
    return 0


def cmd_openslo_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import yaml

    from app.openslo import export_slo

    topology = args.topology or WorkerSettings.from_env().topology_path
    slos = load_slos(args.slos) if args.slos else load_topology(topology).slos
    docs = [export_slo(slo) for slo in slos]
    _write_to(args.out, out, yaml.safe_dump_all(docs, sort_keys=False, width=200))
    return 0


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _duration_s(text: str) -> float:
    """`15s`, `1m`, `500ms` or seconds as a number; > 0."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    unit = next((u for u in ("ms", "s", "m", "h") if text.endswith(u)), "")
    try:
        value = float(text.removesuffix(unit)) * units.get(unit, 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 15s, 1m, 500ms)") from None
    if not 0 < value < 86_400:
        raise argparse.ArgumentTypeError(f"must be more than 0 and less than a day, got {text!r}")
    return value


def cmd_bridge(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from app.bridge import run as bridge_run
    from app.bridge.bridge import counter_slis

    root_level, per_logger = args.log_level
    logging.basicConfig(level=root_level, stream=err, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name, level in per_logger.items():
        logging.getLogger(name).setLevel(level)
    topology = load_topology(_settings(args).topology_path)
    bridge = bridge_run.make_bridge(
        counter_slis(topology.slos),
        _bootstrap(args),
        topology.topics.metrics,
        args.state,
        args.flush_interval,
        following=not args.no_follow_definitions,
    )
    definitions = None
    if not args.no_follow_definitions:
        definitions = (topology.topics.definitions, {slo.slo_id: slo for slo in topology.slos})
    if args.bridge_command == "remote-write":
        from app.bridge.remote_write import require_snappy

        require_snappy()
        return run_async(bridge_run.remote_write(bridge, args.listen[0], args.listen[1], out, definitions))
    return run_async(bridge_run.query(bridge, args.prometheus, args.interval, args.listen, out, definitions))


def _bridge_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bridge = sub.add_parser("bridge", help="feed SLOs from Prometheus counters (remote write or queries)")
    modes = bridge.add_subparsers(dest="bridge_command", required=True)
    rw = modes.add_parser("remote-write", help="a Prometheus remote-write 1.0 receiver (POST /api/v1/write)")
    rw.add_argument("--listen", type=_host_port, required=True, metavar="HOST:PORT", help="address to listen on")
    q = modes.add_parser("query", help="poll raw counters through the Prometheus HTTP API")
    q.add_argument("--prometheus", required=True, metavar="URL", help="e.g. http://prometheus:9090")
    q.add_argument("--interval", type=_duration_s, default=15.0, help="seconds between steps, e.g. 15s (15s)")
    q.add_argument("--listen", type=_host_port, default=None, metavar="HOST:PORT", help="serve /metrics here")
    for mode in (rw, q):
        _stream_flags(mode)
        mode.add_argument(
            "--state", type=Path, default=Path("slo-bridge-state.json"), help="state file (slo-bridge-state.json)"
        )
        mode.add_argument("--flush-interval", type=_duration_s, default=1.0, help="remote write: publish period (1s)")
        mode.add_argument("--log-level", default=("INFO", {}), type=log_levels, metavar="LEVEL[,LOGGER=LEVEL...]")
        mode.add_argument(
            "--no-follow-definitions",
            action="store_true",
            help="feed the topology's SLOs only (default: also those created or changed through the API)",
        )
        mode.set_defaults(func=cmd_bridge)


def _stream_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topology", type=Path, default=None, help="topology file (SLO_TOPOLOGY)")
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (KAFKA_BOOTSTRAP_SERVERS)")


def cmd_backtest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from app.backtest import offline_backtest, parse_rules
    from app.core.intervals import BadInterval, custom_interval
    from app.definitions import read_yaml

    try:
        if (args.from_ is None) != (args.to is None):
            raise UsageError("--from/--to", "give both --from and --to, or neither (the events' span)")
        interval = None if args.from_ is None else custom_interval(args.from_, args.to, "--from/--to")
        candidate = None if args.rules is None else parse_rules(read_yaml(Path(args.rules)))
        slos = load_slos(Path(args.slos))
        data = _read_events(args.events)
        prepared = prepare(
            slos, data, args.at, fallback_now_us=time.time_ns() // 1000, max_skew_us=round(args.max_skew * 1_000_000)
        )
        result = offline_backtest(prepared, candidate, interval)
    except BadInterval as exc:
        raise UsageError(exc.argument, exc.reason) from exc
    out.write(json.dumps(result, indent=2) + "\n")
    err.write(
        f"backtest: {result['from']} to {result['to']}, {prepared.ts_us.size} events accepted, "
        f"{len(prepared.rejections)} rejected\n"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Real-time SLO engine.")
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="evaluate SLOs over a file of SLI events")
    rp.add_argument("--slos", required=True, help="YAML file with a top-level 'slos:' list")
    rp.add_argument("--events", required=True, help="JSON lines of SLI events ('-' = stdin)")
    rp.add_argument("--at", type=_at, default=None, help="evaluate at this RFC 3339 time or epoch seconds")
    rp.add_argument("--emit-all", action="store_true", help="one status line after every accepted event")
    rp.add_argument(
        "--tick",
        type=_non_negative,
        default=0.0,
        help="with --emit-all: replay the worker's timer every TICK seconds of event time, up to --at",
    )
    rp.add_argument("--alerts", action="store_true", help="with --emit-all: also write alert events (slo_alert)")
    rp.add_argument("--max-skew", type=float, default=300.0, help="seconds a timestamp may lie ahead (300)")
    rp.set_defaults(func=cmd_replay)

    rep = sub.add_parser("report", help="compliance report of SLOs over a period, from a file of SLI events")
    rep.add_argument("--slos", required=True, help="YAML file with a top-level 'slos:' list")
    rep.add_argument("--events", required=True, help="JSON lines of SLI events ('-' = stdin)")
    rep.add_argument("--period", default=None, help="2026-10 (month), 2026-Q4, 2026 (year) or 2026-W44 (ISO week)")
    rep.add_argument("--from", dest="from_", type=_at, default=None, help="interval start (RFC 3339), with --to")
    rep.add_argument("--to", type=_at, default=None, help="interval end, exclusive (RFC 3339), with --from")
    rep.add_argument("--at", type=_at, default=None, help="evaluation instant (default: the newest accepted event)")
    rep.add_argument("--service", default=None, help="only this service's SLOs")
    rep.add_argument("--format", choices=["json", "csv", "md"], default="json")
    rep.add_argument("--max-skew", type=float, default=300.0, help="seconds a timestamp may lie ahead (300)")
    rep.set_defaults(func=cmd_report)

    bt = sub.add_parser("backtest", help="pages and tickets current (and candidate) rules would have sent")
    bt.add_argument("--slos", required=True, help="YAML file with a top-level 'slos:' list")
    bt.add_argument("--events", required=True, help="JSON lines of SLI events ('-' = stdin)")
    bt.add_argument("--rules", default=None, help="YAML file with a 'rules:' list replacing each SLO's policy")
    bt.add_argument("--from", dest="from_", type=_at, default=None, help="start (RFC 3339; default: oldest event)")
    bt.add_argument("--to", type=_at, default=None, help="end, exclusive (RFC 3339), with --from")
    bt.add_argument("--at", type=_at, default=None, help="evaluation instant (default: the newest accepted event)")
    bt.add_argument("--max-skew", type=float, default=300.0, help="seconds a timestamp may lie ahead (300)")
    bt.set_defaults(func=cmd_backtest)

    run = sub.add_parser("run", help="run the streaming worker (embedded broker when none is configured)")
    _stream_flags(run)
    run.add_argument("--demo", action="store_true", help="also run the demo producer")
    run.add_argument("--quiet", action="store_true", help="do not print status events")
    run.add_argument(
        "--log-level",
        default=("WARNING", {}),
        type=log_levels,
        metavar="LEVEL[,LOGGER=LEVEL...]",
        help="root level (DEBUG, INFO, WARNING, ERROR), then per-logger levels, e.g. INFO,app.stream.timer=DEBUG",
    )
    run.set_defaults(func=cmd_run)

    sub.add_parser("settings", help="the worker's settings: variables, flags, defaults (markdown)").set_defaults(
        func=cmd_settings
    )

    demo = sub.add_parser("produce-demo", help="synthetic SLI traffic with a scripted incident")
    _stream_flags(demo)
    demo.add_argument("--duration", type=float, default=None, help="seconds to run (default: forever)")
    demo.set_defaults(func=cmd_produce_demo)

    produce = sub.add_parser("produce", help="publish a file of SLI events to the metrics topic (backfill)")
    _stream_flags(produce)
    produce.add_argument("--events", required=True, help="JSON lines of SLI events ('-' = stdin)")
    produce.set_defaults(func=cmd_produce)

    tail = sub.add_parser("tail-status", help="print status events as they flow")
    _stream_flags(tail)
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--json", action="store_true", help="print the raw events")
    tail.add_argument("--alerts", action="store_true", help="also print alert events (the alerts topic)")
    tail.set_defaults(func=cmd_tail_status)

    export = sub.add_parser("export", help="export definitions and contracts to other tools").add_subparsers(
        dest="format", required=True
    )
    rules = export.add_parser("prometheus-rules", help="recording + multiwindow alerting rules (YAML on stdout)")
    _stream_flags(rules)
    rules.add_argument("--at", type=_at, default=None, help="instant for calendar-period thresholds (default: now)")
    rules.set_defaults(func=cmd_export_prometheus_rules)
    contracts = export.add_parser("asyncapi", help="the AsyncAPI 3.0 document of every topic (docs/asyncapi.yaml)")
    contracts.add_argument("--out", type=Path, default=None, help="write to this file (default: stdout)")
    contracts.set_defaults(func=cmd_export_asyncapi)

    openslo = sub.add_parser("openslo", help="OpenSLO v1 SLO documents in and out (docs/openslo.md)")
    openslo_sub = openslo.add_subparsers(dest="openslo_command", required=True)
    imp = openslo_sub.add_parser("import", help="OpenSLO v1 files -> a definitions file (slos:)")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="YAML files of OpenSLO v1 objects")
    imp.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    imp.set_defaults(func=cmd_openslo_import)
    exp = openslo_sub.add_parser("export", help="definitions -> OpenSLO v1 SLO documents (multi-document YAML)")
    source = exp.add_mutually_exclusive_group()
    source.add_argument("--slos", type=Path, default=None, help="a definitions file (slos:)")
    source.add_argument("--topology", type=Path, default=None, help="a topology file (default: SLO_TOPOLOGY)")
    exp.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    exp.set_defaults(func=cmd_openslo_export)
    _bridge_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args, out, err)
    except SloEngineError as exc:
        err.write(f"error: {exc}\n")
        return 2
    out.flush()
    return code
