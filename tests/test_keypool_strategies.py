"""How a pool picks a key: round robin, random, least busy, least used."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from balancer.keypool import strategies
from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.pool import KeyPool
from balancer.keypool.records import KeyRecord, ModelState, PoolPolicy, Strategy
from balancer.keypool.strategies import Rotation

NOW = 1_750_000_000.0
MODEL = "gemini-2.5-flash"
OK = Verdict(Outcome.SUCCESS)


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_pool(strategy, n=4, requests_per_key=1, used=None, seed=3):
    policy = PoolPolicy(strategy=strategy, requests_per_key=requests_per_key)
    pool = KeyPool(lambda pool_id: policy, Clock(), random.Random(seed))
    used = used or [0] * n
    pool.replace_all(
        [KeyRecord(id=i, pool_id=1, secret=f"AIza-{i}", requests_today=used[i - 1])
         for i in range(1, n + 1)],
        [],
    )
    return pool


def picks(pool, count, verdict=OK):
    out = []
    for _ in range(count):
        lease = pool.acquire(1, MODEL)
        out.append(lease.key_id)
        pool.release(lease, verdict)
    return out


# --- round robin ------------------------------------------------------------------

def test_round_robin_cycles_through_keys_in_id_order():
    assert picks(make_pool(Strategy.ROUND_ROBIN), 9) == [1, 2, 3, 4, 1, 2, 3, 4, 1]


def test_requests_per_key_3_keeps_a_key_for_3_acquisitions():
    pool = make_pool(Strategy.ROUND_ROBIN, n=3, requests_per_key=3)
    assert picks(pool, 10) == [1, 1, 1, 2, 2, 2, 3, 3, 3, 1]


def test_round_robin_leaves_a_sticky_key_that_starts_cooling():
    pool = make_pool(Strategy.ROUND_ROBIN, n=3, requests_per_key=3)
    assert picks(pool, 1) == [1]
    lease = pool.acquire(1, MODEL)
    pool.release(lease, Verdict(Outcome.RATE_LIMITED, "per_minute_quota", cooldown=30))
    assert picks(pool, 4) == [2, 2, 2, 3]


def test_round_robin_skips_excluded_and_cooling_keys():
    pool = make_pool(Strategy.ROUND_ROBIN, n=4)
    pool.merge_model_state(ModelState(2, MODEL, cooldown_until=NOW + 60, reason="rate_limit"))
    assert pool.acquire(1, MODEL, exclude={1}).key_id == 3


def test_round_robin_resumes_where_it_was_after_the_key_set_changes():
    pool = make_pool(Strategy.ROUND_ROBIN, n=5)
    assert picks(pool, 3) == [1, 2, 3]
    pool.set_enabled(1, False)  # forces a rebuild of the rotation
    assert picks(pool, 3) == [4, 5, 2]


def test_round_robin_needs_no_scan_when_keys_are_usable():
    rot = Rotation(list(range(5000)), [0] * 5000, [0] * 5000)
    rot.cursor = 4321
    assert strategies.pick_round_robin(rot, {}, NOW, ()) == 4321
    assert rot.cursor == 4322


# --- random ---------------------------------------------------------------------

def test_random_spreads_requests_over_all_keys():
    counts = Counter(picks(make_pool(Strategy.RANDOM, n=4), 4000))
    assert set(counts) == {1, 2, 3, 4}
    assert all(800 <= c <= 1200 for c in counts.values())


def test_random_never_picks_an_unusable_key():
    pool = make_pool(Strategy.RANDOM, n=20)
    for key_id in range(1, 20):
        pool.merge_model_state(ModelState(key_id, MODEL, cooldown_until=NOW + 60, reason="rate_limit"))
    assert set(picks(pool, 50)) == {20}


# --- least busy / least used --------------------------------------------------------

def test_least_busy_picks_the_idle_key():
    pool = make_pool(Strategy.LEAST_BUSY, n=4)
    held = [pool.acquire(1, MODEL) for _ in range(3)]
    assert sorted(lease.key_id for lease in held) == [1, 2, 3]
    pool.release(held[1], OK)  # key 2 is idle again
    idle = pool.acquire(1, MODEL).key_id
    assert idle == 4
    assert pool.acquire(1, MODEL).key_id == 2


def test_least_busy_breaks_ties_by_rotation():
    assert picks(make_pool(Strategy.LEAST_BUSY, n=3), 6) == [1, 2, 3, 1, 2, 3]


def test_least_used_picks_the_least_used_key():
    pool = make_pool(Strategy.LEAST_USED, n=4, used=[50, 7, 90, 12])
    assert pool.acquire(1, MODEL).key_id == 2


def test_least_used_counts_each_acquisition():
    pool = make_pool(Strategy.LEAST_USED, n=2, used=[3, 0])
    assert picks(pool, 5) == [2, 2, 2, 1, 2]


def test_least_used_breaks_ties_by_fewer_in_flight():
    pool = make_pool(Strategy.LEAST_USED, n=3, used=[5, 4, 5])
    busy = pool.acquire(1, MODEL)  # key 2, now at 5 like the others, and busy
    assert busy.key_id == 2
    assert pool.acquire(1, MODEL).key_id == 3  # 1 and 3 idle at 5; rotation goes on after 2


@pytest.mark.parametrize("strategy", [Strategy.LEAST_BUSY, Strategy.LEAST_USED])
def test_least_strategies_skip_masked_keys(strategy):
    pool = make_pool(strategy, n=3, used=[0, 9, 9])
    pool.merge_model_state(ModelState(1, MODEL, cooldown_until=NOW + 60, reason="rate_limit"))
    assert pool.acquire(1, MODEL, exclude=[2]).key_id == 3


def test_pick_least_returns_none_when_everything_is_masked():
    rot = Rotation([1, 2], [0, 0], [0, 0])
    assert strategies.pick_least(rot, rot.busy, {1: NOW + 5}, NOW, {2}) is None


# --- dispatch ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["round_robin", "random", "least_busy", "least_used"])
def test_a_strategy_given_as_a_plain_string_works(name):
    rot = Rotation([7], [0], [0])
    policy = PoolPolicy(strategy=name)
    assert strategies.pick(policy, rot, {}, NOW, (), random.Random(1)) == 7


def test_an_unknown_strategy_is_an_error():
    with pytest.raises(ValueError):
        strategies.pick(PoolPolicy(strategy="fastest"), Rotation([1], [0], [0]), {}, NOW, (),
                        random.Random(1))


def test_workers_forked_from_one_master_pick_at_random_apart():
    """gunicorn builds the key pool in its master and forks the workers from it: with the
    random strategy each worker draws its own picks, not the same ones as the other."""
    import os

    policy = PoolPolicy(strategy=Strategy.RANDOM)
    pool = KeyPool(lambda pool_id: policy, Clock())  # its own generator, as the app builds it
    pool.replace_all([KeyRecord(id=i, pool_id=1, secret=f"AIza-{i}") for i in range(1, 51)], [])

    def forked_picks() -> str:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # a worker: its first picks, and out
            os.write(write, ",".join(str(k) for k in picks(pool, 10)).encode())
            os._exit(0)
        os.close(write)
        out = os.read(read, 1000).decode()
        os.close(read)
        os.waitpid(pid, 0)
        return out

    first, second = forked_picks(), forked_picks()
    assert first and second
    assert first != second  # the same ten of fifty keys in a row: about 1 in 10^17
