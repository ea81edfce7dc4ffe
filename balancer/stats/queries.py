"""Bounded queries behind the dashboard: usage buckets, the recent request log, key states."""
from __future__ import annotations

from typing import Any

from balancer.runtime import Runtime


def key_states(rt: Runtime) -> dict[str, int]:
    """Keys by state across pools, from this process's key pool (live, no query)."""
    totals = dict(total=0, active=0, cooling_down=0, ejected=0, disabled=0, switched_off=0)
    for row in rt.keypool.stats().values():
        for name in totals:
            totals[name] += row.get(name, 0)
    return totals


def summary(rt: Runtime) -> dict[str, Any]:
    """The dashboard's numbers."""
    return {"keys": key_states(rt)}
