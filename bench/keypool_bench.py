"""Acquire + release cost of the in-memory key pool, per strategy and pool size.

Run: ``.venv/bin/python bench/keypool_bench.py``. Prints figures only.
Scenarios: "healthy" (every key usable), "degraded" (a tenth of the keys
disabled and a tenth cooling down for the model) and "limited" (every key with
per-minute and per-day limits of its own, never reached: the cost of checking
them), each with a success verdict.
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from balancer.keypool import (  # noqa: E402
    KeyPool,
    KeyRecord,
    ModelState,
    Outcome,
    PoolPolicy,
    Strategy,
    Verdict,
)

MODEL = "gemini-2.5-flash"
OK = Verdict(Outcome.SUCCESS)


SCENARIOS = ("healthy", "degraded", "limited")


def build(strategy: Strategy, n: int, scenario: str) -> KeyPool:
    """A pool of ``n`` keys in pool 1 in one of the SCENARIOS."""
    policy = PoolPolicy(strategy=strategy)
    now = time.time()
    degraded = scenario == "degraded"
    limit = 10**9 if scenario == "limited" else None
    keys, states = [], []
    for i in range(1, n + 1):
        keys.append(KeyRecord(id=i, pool_id=1, secret=f"AIza-bench-{i}",
                              enabled=not (degraded and i % 10 == 0),
                              rpm_limit=limit, rpd_limit=limit))
        if degraded and i % 10 == 5:
            states.append(ModelState(key_id=i, model=MODEL, cooldown_until=now + 3600,
                                     reason="per_minute_quota", updated_at=now))
    pool = KeyPool(lambda pool_id: policy, rng=random.Random(7))
    pool.replace_all(keys, states)
    return pool


def measure(pool: KeyPool, ops: int) -> float:
    """Microseconds per acquire + release (best of three runs)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(ops):
            pool.release(pool.acquire(1, MODEL), OK)
        best = min(best, (time.perf_counter() - start) / ops * 1e6)
    return best


def main() -> None:
    """Print one line per strategy, pool size and scenario."""
    print(f"{'strategy':<12} {'keys':>6} {'scenario':<9} {'us/op':>8}")
    for strategy in Strategy:
        for n in (50, 5000):
            for scenario in SCENARIOS:
                pool = build(strategy, n, scenario)
                pool.release(pool.acquire(1, MODEL), OK)  # warm the rotation
                ops = 20000 if n == 50 or strategy in (Strategy.ROUND_ROBIN, Strategy.RANDOM) else 3000
                us = measure(pool, ops)
                print(f"{strategy.value:<12} {n:>6} {scenario:<9} {us:>8.2f}")


if __name__ == "__main__":
    main()
