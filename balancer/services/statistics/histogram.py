"""Percentiles from histogram bins, the way Prometheus's histogram_quantile computes them."""
from __future__ import annotations

from typing import Optional, Sequence

from balancer.models.rollup import BOUNDS_MS


def quantile(bins: Sequence[int], q: float) -> Optional[int]:
    """The ``q`` quantile (0..1) of a histogram with ``BOUNDS_MS`` bins, in ms; None when empty.

    Linear interpolation inside the bin holding the rank, from its lower bound
    (the previous bin's upper one, 0 for the first) to its upper bound. A rank in
    the last, open bin answers the highest finite bound: nothing better is known.
    """
    total = sum(bins)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(bins):
        if n and seen + n >= rank:
            if i >= len(BOUNDS_MS):
                return BOUNDS_MS[-1]
            low = BOUNDS_MS[i - 1] if i else 0
            return round(low + (BOUNDS_MS[i] - low) * max(0.0, rank - seen) / n)
        seen += n
    return BOUNDS_MS[-1]


def add(into: list[int], bins: Sequence) -> None:
    """Add ``bins`` (numbers or None, as SQL sums come back) to ``into`` in place."""
    for i, n in enumerate(bins):
        into[i] += int(n or 0)
