"""slo-engine: a real-time SLO engine on Kafka."""

__version__ = "0.1.0"
