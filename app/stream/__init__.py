"""The streaming worker: Kafka adapters around the pure engine."""
