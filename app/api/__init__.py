"""The HTTP API: SLO management and state queries (FastAPI, served on the worker's loop)."""
