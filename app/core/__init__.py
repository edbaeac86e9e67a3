"""The pure SLO engine: window sums, budget math, burn-rate rules and status.

Nothing here performs I/O or reads a clock; time is always passed in as
integer microseconds since the Unix epoch (`*_us`).
"""
