"""KeyPool: leasing keys, applying verdicts, loading from the database, explaining failures."""
from __future__ import annotations

import random
import sys
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from balancer.keypool import (
    KeyPool,
    KeyRecord,
    KeyStatus,
    ModelState,
    NoKeyAvailable,
    Outcome,
    PoolPolicy,
    TransitionKind,
    Verdict,
)

NOW = 1_750_000_000.0  # 2025-06-15 08:06 PDT
MODEL = "gemini-2.5-flash"
OTHER = "gemini-2.5-pro"
OK = Verdict(Outcome.SUCCESS)
FAIL = Verdict(Outcome.TRANSIENT, "server_error", 500, "Internal error")
PER_MINUTE = Verdict(Outcome.RATE_LIMITED, "per_minute_quota", 429, cooldown=12)
INVALID = Verdict(Outcome.KEY_INVALID, "API_KEY_INVALID", 400, "API key not valid.")


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def secret(key_id: int) -> str:
    return f"AIzaSyFAKE-secret-{key_id:04d}"


def rec(key_id: int, pool_id: int = 1, **fields) -> KeyRecord:
    return KeyRecord(id=key_id, pool_id=pool_id, secret=secret(key_id), **fields)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def policies():
    """Pool id -> policy; tests may replace entries."""
    return {}


@pytest.fixture
def pool(clock, policies):
    kp = KeyPool(lambda pool_id: policies.get(pool_id, PoolPolicy()), clock, random.Random(1))
    kp.replace_all([rec(i) for i in range(1, 5)], [])
    return kp


def use(pool, verdict, model=MODEL, exclude=()):
    """Acquire one key, release it with ``verdict``; return (key id, transitions)."""
    lease = pool.acquire(1, model, exclude)
    return lease.key_id, pool.release(lease, verdict)


def in_flight(pool, key_id):
    return pool.snapshot(key_id)[2]


def state_of(pool, key_id, model=MODEL):
    return next((s for s in pool.snapshot(key_id)[1] if s.model == model), None)


def no_key(pool, model=MODEL, exclude=()):
    with pytest.raises(NoKeyAvailable) as info:
        pool.acquire(1, model, exclude)
    return info.value


# --- what acquire skips -----------------------------------------------------------

@pytest.mark.parametrize(
    ("setup", "skipped"),
    [
        (lambda p: p.set_enabled(1, False), "switched off"),
        (lambda p: p.upsert_key(rec(1, status=KeyStatus.DISABLED, updated_at=NOW)), "disabled"),
        (lambda p: p.merge_model_state(ModelState(1, MODEL, cooldown_until=NOW + 1,
                                                  reason="rate_limit")), "cooling"),
    ],
)
def test_acquire_skips_a_key_that_is(pool, setup, skipped):
    setup(pool)
    assert {pool.acquire(1, MODEL).key_id for _ in range(8)} == {2, 3, 4}


def test_acquire_skips_keys_this_request_already_tried(pool):
    assert {pool.acquire(1, MODEL, exclude=[1, 2]).key_id for _ in range(6)} == {3, 4}


def test_a_cooldown_ends_on_time(pool, clock):
    pool.merge_model_state(ModelState(1, MODEL, cooldown_until=NOW + 10, reason="rate_limit"))
    clock.advance(10)
    assert 1 in {pool.acquire(1, MODEL).key_id for _ in range(4)}


def test_a_cooldown_for_one_model_leaves_the_key_to_the_others(pool):
    for key_id in range(1, 5):
        pool.merge_model_state(ModelState(key_id, MODEL, cooldown_until=NOW + 60,
                                          reason="per_day_quota"))
    no_key(pool)
    assert pool.acquire(1, OTHER).key_id == 1


def test_a_lease_carries_the_key_and_when(pool):
    lease = pool.acquire(1, MODEL)
    assert (lease.key_id, lease.pool_id, lease.model, lease.secret, lease.acquired_at) == (
        1, 1, MODEL, secret(1), NOW)
    assert secret(1) not in repr(lease)


# --- counting -------------------------------------------------------------------------

def test_acquire_counts_in_flight_and_today_and_release_gives_back(pool):
    lease = pool.acquire(1, MODEL)
    key, _, flying = pool.snapshot(1)
    assert (flying, key.requests_today) == (1, 1)
    pool.release(lease, OK)
    key, _, flying = pool.snapshot(1)
    assert (flying, key.requests_today) == (0, 1)


def test_releasing_twice_is_harmless(pool):
    first, second = pool.acquire(1, MODEL), pool.acquire(1, MODEL, exclude=[1])
    other_on_same_key = pool.acquire(1, MODEL, exclude=[2, 3, 4])
    assert other_on_same_key.key_id == first.key_id == 1
    pool.release(first, FAIL)
    assert pool.release(first, FAIL) == []
    assert in_flight(pool, 1) == 1  # the other lease of key 1 is still counted
    assert state_of(pool, 1).consecutive_failures == 1
    pool.release(other_on_same_key, OK)
    pool.release(second, OK)
    assert all(in_flight(pool, k) == 0 for k in range(1, 5))


def test_releasing_a_lease_of_a_removed_key_is_harmless(pool):
    lease = pool.acquire(1, MODEL)
    pool.remove_key(1)
    assert pool.release(lease, FAIL) == []
    pool.upsert_key(rec(1))
    again = pool.acquire(1, MODEL, exclude=[2, 3, 4])
    pool.release(lease, OK)
    assert in_flight(pool, 1) == 1
    pool.release(again, OK)
    assert in_flight(pool, 1) == 0


def test_requests_today_start_again_at_midnight_pacific(clock, policies):
    pacific = ZoneInfo("America/Los_Angeles")
    clock.now = datetime(2025, 11, 2, 23, 59, 0, tzinfo=pacific).timestamp()
    kp = KeyPool(lambda pool_id: PoolPolicy(), clock)
    kp.replace_all([rec(1, requests_today=41)], [])
    kp.release(kp.acquire(1, MODEL), OK)
    assert kp.snapshot(1)[0].requests_today == 42
    clock.advance(59)  # 23:59:59 still the same day
    kp.release(kp.acquire(1, MODEL), OK)
    assert kp.snapshot(1)[0].requests_today == 43
    clock.advance(1)  # midnight in Los Angeles, 08:00 UTC
    assert datetime.fromtimestamp(clock.now, pacific).hour == 0
    kp.release(kp.acquire(1, MODEL), OK)
    assert kp.snapshot(1)[0].requests_today == 1


# --- verdicts through the pool ------------------------------------------------------

def test_a_rate_limit_cools_the_key_for_the_model(pool):
    key_id, out = use(pool, PER_MINUTE)
    assert [t.kind for t in out] == [TransitionKind.COOLDOWN]
    assert out[0].until == NOW + 13
    assert key_id not in {pool.acquire(1, MODEL).key_id for _ in range(6)}


def test_a_rate_limit_cools_the_group_siblings_too(clock, policies):
    kp = KeyPool(lambda pool_id: PoolPolicy(), clock)
    kp.replace_all([rec(1, group="proj-a"), rec(2, group="proj-a"), rec(3, group="proj-a"),
                    rec(4, group="proj-b"), rec(5), rec(6, pool_id=2, group="proj-a")], [])
    kp.merge_model_state(ModelState(3, MODEL, cooldown_until=NOW + 500, reason="per_day_quota"))
    lease = kp.acquire(1, MODEL)
    out = kp.release(lease, PER_MINUTE)
    assert [(t.kind, t.key_id, t.reason) for t in out] == [
        (TransitionKind.COOLDOWN, 1, "per_minute_quota"),
        (TransitionKind.COOLDOWN, 2, "group:per_minute_quota"),  # 3 already cools longer
    ]
    assert all(t.until == NOW + 13 and t.model_state.cooldown_until == NOW + 13 for t in out)
    assert {kp.acquire(1, MODEL).key_id for _ in range(6)} == {4, 5}
    assert kp.acquire(2, MODEL).key_id == 6
    assert kp.acquire(1, OTHER).key_id in {1, 2, 3, 4, 5}


def test_an_invalid_key_is_disabled_at_once_with_a_snapshot(pool):
    key_id, out = use(pool, INVALID)
    assert [t.kind for t in out] == [TransitionKind.DISABLE]
    assert out[0].key.status is KeyStatus.DISABLED
    assert out[0].key.disabled_reason == "API_KEY_INVALID: API key not valid."
    assert out[0].key.updated_at == NOW and out[0].at == NOW
    assert key_id not in {pool.acquire(1, OTHER).key_id for _ in range(6)}


def test_a_key_disabled_twice_reports_only_once(pool):
    first, second = pool.acquire(1, MODEL), pool.acquire(1, MODEL, exclude=[2, 3, 4])
    assert len(pool.release(first, INVALID)) == 1
    assert pool.release(second, INVALID) == []


def test_no_access_benches_the_key_for_that_model_only(pool):
    key_id, out = use(pool, Verdict(Outcome.NO_ACCESS, "PERMISSION_DENIED", 403))
    assert out[0].reason == "no_access" and out[0].until == NOW + 3600
    assert pool.acquire(1, OTHER, exclude=[2, 3, 4]).key_id == key_id


def test_transient_failures_eject_at_max_failures(pool, clock):
    out = [pool.release(pool.acquire(1, MODEL, exclude=[2, 3, 4]), FAIL) for _ in range(3)]
    assert [t.kind for ts in out for t in ts] == [
        TransitionKind.STATE, TransitionKind.STATE, TransitionKind.EJECT]
    assert out[2][0].until == NOW + 30
    assert no_key(pool, exclude=[2, 3, 4]).status == 503
    clock.advance(30)
    assert pool.acquire(1, MODEL, exclude=[2, 3, 4]).key_id == 1


def test_the_second_ejection_in_a_row_lasts_twice_as_long(pool, clock):
    for _ in range(2):
        for _ in range(3):
            out = pool.release(pool.acquire(1, MODEL, exclude=[2, 3, 4]), FAIL)
        clock.advance(out[0].until - clock.now)
    assert out[0].model_state.ejections == 2
    assert out[0].until - out[0].at == 60


def test_success_after_failures_is_written_once_then_never(pool):
    use(pool, FAIL)
    _, healed = use(pool, OK, exclude=[2, 3, 4])
    assert [t.kind for t in healed] == [TransitionKind.STATE]
    assert use(pool, OK, exclude=[2, 3, 4])[1] == []


@pytest.mark.parametrize("outcome", [Outcome.OVERLOADED, Outcome.CLIENT_ERROR, Outcome.PROXY_FAULT])
def test_answers_that_are_not_the_keys_fault_leave_it_alone(pool, outcome):
    key_id, out = use(pool, Verdict(outcome, "x", 503))
    assert out == [] and state_of(pool, key_id) is None and in_flight(pool, key_id) == 0


def test_transitions_hold_copies_the_pool_does_not_share(pool):
    _, out = use(pool, FAIL)
    out[0].model_state.consecutive_failures = 99
    assert state_of(pool, 1).consecutive_failures == 1
    snap_key, snap_states, _ = pool.snapshot(1)
    snap_key.status, snap_states[0].reason = KeyStatus.DISABLED, "hacked"
    assert pool.snapshot(1)[0].status is KeyStatus.ACTIVE
    assert state_of(pool, 1).reason == ""


# --- when no key can serve -------------------------------------------------------------

def test_all_keys_rate_limited_is_a_429_with_the_soonest_retry(pool, clock):
    for key_id, seconds in [(1, 40), (2, 12.2), (3, 90), (4, 3600)]:
        pool.merge_model_state(ModelState(key_id, MODEL, cooldown_until=NOW + seconds,
                                          reason="per_minute_quota"))
    err = no_key(pool)
    assert (err.status, err.retry_after) == (429, 13)
    assert err.message == "No key can serve gemini-2.5-flash: 4 rate-limited (soonest usable in 13 s)."
    clock.advance(12)
    assert no_key(pool).retry_after == 1  # 0.2 s left, rounded up


def test_the_message_counts_every_cause_and_names_no_secret(clock):
    kp = KeyPool(lambda pool_id: PoolPolicy(), clock)
    kp.replace_all([rec(i) for i in range(1, 8)], [])
    for key_id in range(1, 5):
        kp.merge_model_state(ModelState(key_id, MODEL, cooldown_until=NOW + 13 - key_id / 10,
                                        reason="per_minute_quota" if key_id % 2 else "group:rate_limit"))
    for key_id in (5, 6):
        lease = kp.acquire(1, MODEL, exclude=[k for k in range(1, 8) if k != key_id])
        kp.release(lease, Verdict(Outcome.KEY_INVALID, "API_KEY_INVALID", 400,
                                  f"API key {secret(key_id)} not valid."))
    kp.set_enabled(7, False)
    err = no_key(kp)
    assert err.status == 429 and err.retry_after == 13
    assert err.message == ("No key can serve gemini-2.5-flash: 4 rate-limited (soonest usable in 13 s), "
                           "2 disabled (API_KEY_INVALID), 1 switched off.")
    assert not any(secret(k) in err.message for k in range(1, 8))
    assert "AIza" not in str(err)


@pytest.mark.parametrize(
    ("setup", "retry_after", "says"),
    [
        (lambda p: [p.set_enabled(k, False) for k in range(1, 5)], None, "4 switched off"),
        (lambda p: [p.upsert_key(rec(k, status=KeyStatus.DISABLED, disabled_reason="CONSUMER_SUSPENDED: x",
                                     updated_at=NOW)) for k in range(1, 5)], None,
         "4 disabled (CONSUMER_SUSPENDED)"),
        (lambda p: [p.merge_model_state(ModelState(k, MODEL, cooldown_until=NOW + 25, reason="ejected"))
                    for k in range(1, 5)], 25, "4 ejected after repeated errors (back in 25 s)"),
        (lambda p: [p.merge_model_state(ModelState(k, MODEL, cooldown_until=NOW + 3600, reason="no_access"))
                    for k in range(1, 5)], 3600, "4 without access to this model"),
    ],
)
def test_no_usable_key_for_other_reasons_is_a_503(pool, setup, retry_after, says):
    setup(pool)
    err = no_key(pool)
    assert (err.status, err.retry_after) == (503, retry_after)
    assert says in err.message


def test_rate_limited_plus_ejected_is_a_503_not_a_429(pool):
    for key_id in range(1, 5):
        pool.merge_model_state(ModelState(key_id, MODEL, cooldown_until=NOW + 10 * key_id,
                                          reason="ejected" if key_id == 1 else "rate_limit"))
    err = no_key(pool)
    assert (err.status, err.retry_after) == (503, 10)


def test_when_every_usable_key_was_tried_the_answer_is_a_503(pool):
    pool.merge_model_state(ModelState(4, MODEL, cooldown_until=NOW + 30, reason="rate_limit"))
    err = no_key(pool, exclude=[1, 2, 3])
    assert err.status == 503
    assert err.message.startswith("No key can serve gemini-2.5-flash: 3 already tried by this request")
    err = no_key(pool, exclude=[1, 2, 3, 4])
    assert (err.status, err.retry_after) == (503, 30)  # 1-3 are not rate-limited, only tried
    pool.restore(4)
    err = no_key(pool, exclude=[1, 2, 3, 4])
    assert (err.status, err.retry_after) == (503, None)
    assert "all 4 usable keys were already tried by this request" in err.message


@pytest.mark.parametrize("pool_id", [1, 99])
def test_an_empty_or_unknown_pool_is_a_503(clock, pool_id):
    kp = KeyPool(lambda p: PoolPolicy(), clock)
    kp.replace_all([rec(1, pool_id=2)], [])
    kp.remove_key(1)
    with pytest.raises(NoKeyAvailable) as info:
        kp.acquire(pool_id, MODEL)
    assert info.value.status == 503 and "no keys" in info.value.message


# --- loading: last writer wins ---------------------------------------------------------

def test_an_older_record_does_not_undo_the_pools_own_change(pool):
    use(pool, INVALID)  # key 1 disabled at NOW
    pool.upsert_key(rec(1, requests_today=500, updated_at=NOW - 5))
    key = pool.snapshot(1)[0]
    assert key.status is KeyStatus.DISABLED
    assert key.requests_today == 500  # counters follow the larger, whoever wrote last


def test_a_newer_record_wins(pool):
    use(pool, INVALID)
    pool.upsert_key(KeyRecord(id=1, pool_id=1, secret="new", group="proj", updated_at=NOW + 1))
    key = pool.snapshot(1)[0]
    assert (key.status, key.secret, key.group, key.requests_today) == (KeyStatus.ACTIVE, "new", "proj", 1)


def test_a_key_can_move_to_another_pool(pool):
    pool.upsert_key(rec(1, pool_id=2))
    assert pool.key_ids(1) == {2, 3, 4} and pool.key_ids(2) == {1}
    assert pool.acquire(2, MODEL).key_id == 1


def test_model_states_merge_last_writer_wins(pool):
    pool.merge_model_state(ModelState(1, MODEL, consecutive_failures=2, updated_at=NOW))
    pool.merge_model_state(ModelState(1, MODEL, consecutive_failures=7, updated_at=NOW - 1))
    assert state_of(pool, 1).consecutive_failures == 2
    pool.merge_model_state(ModelState(1, MODEL, cooldown_until=NOW + 9, reason="rate_limit",
                                      updated_at=NOW + 1))
    assert state_of(pool, 1).consecutive_failures == 0
    assert 1 not in {pool.acquire(1, MODEL).key_id for _ in range(6)}


def test_replace_all_keeps_in_flight_counts_and_drops_removed_keys(pool):
    held = pool.acquire(1, MODEL), pool.acquire(1, MODEL)
    pool.replace_all([rec(1), rec(5)], [ModelState(5, MODEL, consecutive_failures=1),
                                        ModelState(77, MODEL, consecutive_failures=1)])
    assert pool.key_ids() == {1, 5}
    assert in_flight(pool, 1) == 1 and pool.snapshot(2) is None
    assert pool.release(held[1], FAIL) == []
    pool.release(held[0], OK)
    assert pool.stats() == {1: dict(total=2, active=2, cooling_down=0, ejected=0, disabled=0,
                                     switched_off=0, in_flight=0)}


def test_note_requests_today_only_raises_the_count(pool):
    pool.note_requests_today(1, 30)
    pool.note_requests_today(1, 10)
    assert pool.snapshot(1)[0].requests_today == 30


# --- admin and probes -------------------------------------------------------------

def test_switching_a_key_off_and_on_reports_each_change_once(pool):
    assert [t.reason for t in pool.set_enabled(1, False)] == ["switched_off"]
    assert pool.set_enabled(1, False) == []
    on = pool.set_enabled(1, True)
    assert [(t.kind, t.key.enabled) for t in on] == [(TransitionKind.RESTORE, True)]


def test_restore_clears_disable_cooldowns_failures_and_ejections(pool):
    use(pool, INVALID)
    pool.merge_model_state(ModelState(1, OTHER, cooldown_until=NOW + 99, reason="ejected", ejections=3))
    out = pool.restore(1)
    assert [(t.kind, t.model) for t in out] == [(TransitionKind.RESTORE, None),
                                                (TransitionKind.RESTORE, OTHER)]
    assert pool.acquire(1, OTHER, exclude=[2, 3, 4]).key_id == 1
    assert state_of(pool, 1, OTHER).ejections == 0
    assert pool.restore(1) == []


def test_reset_failures_zeroes_the_counts_only(pool):
    use(pool, FAIL)
    pool.merge_model_state(ModelState(1, OTHER, consecutive_failures=2, cooldown_until=NOW + 5,
                                      reason="rate_limit"))
    out = pool.reset_failures(1)
    assert [(t.kind, t.model) for t in out] == [(TransitionKind.STATE, MODEL), (TransitionKind.STATE, OTHER)]
    assert state_of(pool, 1, OTHER).cooldown_until == NOW + 5


def test_probe_candidates_are_health_disabled_keys_and_ejected_models(pool):
    use(pool, INVALID)  # key 1
    pool.set_enabled(2, False)
    pool.upsert_key(rec(2, status=KeyStatus.DISABLED, enabled=False, updated_at=NOW + 1))
    pool.merge_model_state(ModelState(3, MODEL, cooldown_until=NOW + 30, reason="ejected"))
    pool.merge_model_state(ModelState(4, MODEL, cooldown_until=NOW + 30, reason="rate_limit"))
    pool.merge_model_state(ModelState(4, OTHER, cooldown_until=NOW - 1, reason="ejected"))
    found = [(k.id, model) for k, model in pool.probe_candidates()]
    assert found == [(1, None), (3, MODEL)]
    assert pool.probe_candidates()[0][0].secret == secret(1)


def test_a_failed_probe_never_lengthens_a_penalty(pool, clock):
    use(pool, INVALID)  # key 1
    for _ in range(3):
        pool.release(pool.acquire(1, OTHER, exclude=[1, 3, 4]), FAIL)  # key 2 ejected
    before = pool.snapshot(1), pool.snapshot(2)
    clock.advance(10)
    assert pool.record_probe(1, None, ok=False) == []
    assert pool.record_probe(2, OTHER, ok=False) == []
    assert (pool.snapshot(1), pool.snapshot(2)) == before


def test_a_good_probe_restores_the_key_or_the_model(pool):
    use(pool, INVALID)
    out = pool.record_probe(1, None, ok=True)
    assert [(t.kind, t.key.status) for t in out] == [(TransitionKind.RESTORE, KeyStatus.ACTIVE)]
    for _ in range(3):
        pool.release(pool.acquire(1, OTHER, exclude=[2, 3, 4]), FAIL)
    assert pool.probe_candidates()[0][1] == OTHER
    assert [t.kind for t in pool.record_probe(1, OTHER, ok=True)] == [TransitionKind.RESTORE]
    assert pool.acquire(1, OTHER, exclude=[2, 3, 4]).key_id == 1
    assert pool.record_probe(1, OTHER, ok=True) == []  # stale probe: nothing left to restore


def test_stats_count_keys_per_pool(pool):
    pool.upsert_key(rec(5, pool_id=2))
    pool.set_enabled(1, False)
    use(pool, INVALID)  # key 2
    pool.merge_model_state(ModelState(3, MODEL, cooldown_until=NOW + 9, reason="ejected"))
    pool.merge_model_state(ModelState(3, OTHER, cooldown_until=NOW + 9, reason="rate_limit"))
    lease = pool.acquire(1, MODEL)
    assert pool.stats() == {
        1: dict(total=4, active=2, cooling_down=1, ejected=1, disabled=1, switched_off=1, in_flight=1),
        2: dict(total=1, active=1, cooling_down=0, ejected=0, disabled=0, switched_off=0, in_flight=0),
    }
    pool.release(lease, OK)


# --- threads ---------------------------------------------------------------------------

def test_eight_threads_of_acquire_and_release_leave_no_lease_in_flight():
    kp = KeyPool(lambda pool_id: PoolPolicy(max_failures=2, ejection_base=0.001, cooldown_default=0.001,
                                            cooldown_margin=0, cooldown_unknown_base=0.001))
    kp.replace_all([rec(i, pool_id=1 + i % 2, group=f"g{i % 5}") for i in range(1, 41)], [])
    verdicts = [OK, OK, OK, FAIL, PER_MINUTE, Verdict(Outcome.RATE_LIMITED, "rate_limit"),
                Verdict(Outcome.OVERLOADED), Verdict(Outcome.NO_ACCESS, cooldown=0.001), INVALID]
    errors = []

    def worker(seed):
        rng = random.Random(seed)
        held = []  # several leases in flight per thread, released out of order
        try:
            for _ in range(2000):
                pool_id = rng.choice((1, 2))
                try:
                    held.append(kp.acquire(pool_id, rng.choice((MODEL, OTHER))))
                except NoKeyAvailable:
                    if rng.random() < 0.05:
                        for key_id in kp.key_ids(pool_id):
                            kp.restore(key_id)
                while len(held) > rng.randint(0, 3):
                    lease = held.pop(rng.randrange(len(held)))
                    kp.release(lease, rng.choice(verdicts[:-1] if rng.random() < 0.99 else verdicts))
                    if rng.random() < 0.01:
                        kp.release(lease, OK)  # a double release, now and then
            for lease in held:
                kp.release(lease, OK)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, inside the pool's methods too
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert all(row["in_flight"] == 0 for row in kp.stats().values())
    assert all(kp.snapshot(k)[2] == 0 for k in kp.key_ids())
