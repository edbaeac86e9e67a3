"""Create the topology's Kafka topics, then exit: the `topics` job of docker-compose.yml.

Runs in the worker image, so the topics are made by the worker's own code
(app.stream.kafka_io.ensure_topics: the topology's partition count, compacted
definitions and changelog topics) before either worker joins the consumer group,
and before the demo producer writes (the broker's auto-creation is off).
Existing topics are left as they are, so it is safe on every `docker compose up`.

    python create_topics.py  # reads KAFKA_BOOTSTRAP_SERVERS and SLO_TOPOLOGY
"""

from __future__ import annotations

import asyncio
import sys

from app.stream.kafka_io import ensure_topics
from app.stream.settings import WorkerSettings
from app.topology import load_topology


def main() -> int:
    settings = WorkerSettings.from_env()
    if not settings.bootstrap:
        print("create_topics: set KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    topology = load_topology(settings.topology_path)
    asyncio.run(ensure_topics(settings.bootstrap, topology))
    print(f"topics of {topology.name!r} ready at {settings.bootstrap}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
