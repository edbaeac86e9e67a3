"""Delivery sinks fed from the Kafka alerts (and status) topics: Alertmanager, Pulsar."""
