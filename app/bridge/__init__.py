"""The Prometheus bridge: SLI events from Prometheus counters (remote write or queries)."""
