"""Exact decisions at boundaries.

Figures are reported as floats, but a float can land a hair on the wrong side
of a threshold (1 - 0.9 = 0.09999999999999998). Every boundary decision
therefore compares floats first and, only when the two sides are within a
relative 1e-9 of each other, decides again in exact rational arithmetic from
the integer counts and the decimals the user wrote. The common case stays as
fast as a float comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

_TIE_REL = 1e-9


def decimal(value: float) -> Fraction:
    """The decimal a person wrote: 99.9 -> 999/10 (not the binary float's value)."""
    return Fraction(repr(value))


def greater(a: float, b: float, exact: Callable[[], bool]) -> bool:
    """`a > b`, deciding near-ties with `exact()` (which computes `a > b` exactly)."""
    if abs(a - b) > _TIE_REL * max(abs(a), abs(b)):
        return a > b
    return exact()
