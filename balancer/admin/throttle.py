"""When a sign-in may be tried again, from the failures so far (pure policy, no I/O).

Two limits, so that neither one address nor many together can guess on:
each address gets ``per_address`` failures in ``window`` seconds; beyond
``total`` failures from all addresses in ``total_window``, every sign-in waits
after the latest failure, twice as long with each further one (up to
``backoff_cap``). A wait applies to the right password too, or it would limit
nothing. The failures come from the database, so every worker counts the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class ThrottlePolicy:
    """The limits; the defaults are what Balancer uses."""

    per_address: int = 5
    window: float = 300.0
    total: int = 30
    total_window: float = 3600.0
    backoff_base: float = 5.0
    backoff_cap: float = 900.0

    @property
    def horizon(self) -> float:
        """How far back failures still count, in seconds."""
        return max(self.window, self.total_window)


POLICY = ThrottlePolicy()


def retry_after(policy: ThrottlePolicy, now: float, mine: Sequence[float],
                everyone: Sequence[float]) -> float:
    """Seconds until the next sign-in may be tried; 0 when it may now.

    ``mine`` are the failure times (epoch seconds) of the caller's address,
    ``everyone`` those of all addresses (the caller's included).
    """
    wait = 0.0
    recent = sorted(t for t in mine if t > now - policy.window)
    if len(recent) >= policy.per_address:
        # The oldest of the last ``per_address`` failures must leave the window.
        wait = recent[-policy.per_address] + policy.window - now
    overall = [t for t in everyone if t > now - policy.total_window]
    excess = len(overall) - policy.total
    if excess >= 0:
        delay = min(policy.backoff_cap, policy.backoff_base * 2 ** min(excess, 30))
        wait = max(wait, max(overall) + delay - now)
    return max(0.0, wait)
