"""The key pool: which upstream key serves a request, and how keys stay healthy.

In memory and per process; see :mod:`balancer.keypool.store`. No Flask, no I/O.
"""
from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.pool import KeyPool
from balancer.keypool.records import (
    KeyRecord,
    KeyStatus,
    Lease,
    ModelState,
    NoKeyAvailable,
    PoolPolicy,
    Strategy,
    Transition,
    TransitionKind,
)
from balancer.keypool.retry import RetriesSpent, RetryPolicy

__all__ = [
    "KeyPool",
    "KeyRecord",
    "KeyStatus",
    "Lease",
    "ModelState",
    "NoKeyAvailable",
    "Outcome",
    "PoolPolicy",
    "RetriesSpent",
    "RetryPolicy",
    "Strategy",
    "Transition",
    "TransitionKind",
    "Verdict",
]
