"""Each key's own limits (requests per minute and per day): the pool keeps to them."""
from __future__ import annotations

import random

import pytest

from balancer.keypool import (KeyPool, KeyRecord, ModelState, NoKeyAvailable, Outcome, PoolPolicy,
                              Strategy, Verdict)

NOW = 1_750_000_000.0  # 2025-06-15 08:06 PDT
MODEL = "gemini-2.5-flash"
STRATEGIES = list(Strategy)
OK = Verdict(Outcome.SUCCESS)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def rec(key_id: int, **fields) -> KeyRecord:
    return KeyRecord(id=key_id, pool_id=1, secret=f"AIzaSyFAKE-limit-{key_id:04d}", **fields)


def make_pool(clock, records, strategy=Strategy.ROUND_ROBIN) -> KeyPool:
    kp = KeyPool(lambda _pool: PoolPolicy(strategy=strategy), clock, random.Random(7))
    kp.replace_all(records, [])
    return kp


def take(kp, n: int) -> list[int]:
    """Key ids of ``n`` leases (released at once, as a request that ended)."""
    out = []
    for _ in range(n):
        lease = kp.acquire(1, MODEL)
        out.append(lease.key_id)
        kp.release(lease, OK)
    return out


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_key_at_its_per_minute_limit_is_passed_over_until_its_minute_frees_up(strategy):
    clock = Clock()
    kp = make_pool(clock, [rec(1, rpm_limit=3), rec(2), rec(3)], strategy)
    used = take(kp, 60)
    assert used.count(1) == 3, f"{strategy}: key 1 served {used.count(1)} of 60 with a limit of 3"
    clock.now += 61
    assert 1 in take(kp, 60)


def test_when_every_key_is_at_its_limit_the_client_gets_429_with_the_wait():
    clock = Clock()
    kp = make_pool(clock, [rec(1, rpm_limit=2), rec(2, rpm_limit=1)])
    take(kp, 3)
    clock.now += 20
    with pytest.raises(NoKeyAvailable) as info:
        kp.acquire(1, MODEL)
    err = info.value
    assert err.status == 429
    assert err.retry_after == 40  # the oldest lease leaves the window 60 s after it was made
    assert "2 at their own request limit (soonest usable in 40 s)" in err.message
    clock.now += 41
    assert take(kp, 1)


def test_a_per_day_limit_counts_today_and_frees_up_at_the_pacific_midnight():
    clock = Clock()
    kp = make_pool(clock, [rec(1, rpd_limit=5, requests_today=3), rec(2, rpd_limit=4)])
    assert sorted(take(kp, 6)) == [1, 1, 2, 2, 2, 2]
    with pytest.raises(NoKeyAvailable) as info:
        kp.acquire(1, MODEL)
    # 08:06:40 PDT: the day's quota comes back at midnight Pacific, 15 h 53 min 20 s later.
    assert info.value.status == 429 and info.value.retry_after == 57200
    clock.now += 57200
    assert len(take(kp, 9)) == 9


def test_cooling_and_own_limits_together_still_say_429():
    clock = Clock()
    kp = make_pool(clock, [rec(1, rpm_limit=1), rec(2)])
    kp.merge_model_state(ModelState(2, MODEL, cooldown_until=NOW + 30, reason="per_minute_quota"))
    take(kp, 1)
    with pytest.raises(NoKeyAvailable) as info:
        kp.acquire(1, MODEL)
    assert info.value.status == 429
    assert "1 rate-limited" in info.value.message and "1 at their own request limit" in info.value.message


def test_other_processes_use_counts_toward_a_keys_per_minute_limit():
    clock = Clock()
    kp = make_pool(clock, [rec(1, rpm_limit=5), rec(2)])
    assert kp.limits_apply
    kp.learn_key_usage({1: 4})
    assert take(kp, 10).count(1) == 1
    assert kp.key_usage() == {1: 1}  # what this process publishes: its own leases only


def test_a_pinned_request_is_told_its_key_is_at_its_own_limit():
    clock = Clock()
    kp = make_pool(clock, [rec(1, rpm_limit=1), rec(2)])
    kp.release(kp.acquire_key(1, MODEL), OK)
    with pytest.raises(NoKeyAvailable) as info:
        kp.acquire_key(1, MODEL)
    assert info.value.status == 429 and "key #1 is at its own request limit" in info.value.message


def test_changing_or_removing_a_limit_takes_effect_on_the_next_request():
    clock = Clock()
    kp = make_pool(clock, [rec(1, rpm_limit=1), rec(2, rpm_limit=1)])
    take(kp, 2)
    with pytest.raises(NoKeyAvailable):
        kp.acquire(1, MODEL)
    kp.upsert_key(rec(1, updated_at=NOW + 1))  # the operator cleared key 1's limit
    assert take(kp, 5) == [1] * 5
    assert not make_pool(clock, [rec(1), rec(2)]).limits_apply


# --- through the proxy -------------------------------------------------------------------------

def _chat(client, auth, model=MODEL):
    return client.post("/v1/chat/completions", headers=auth,
                       json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def _key_ids(app) -> list[int]:
    import sqlalchemy as sa

    from balancer.extensions import db
    from balancer.models import ApiKey
    with app.app_context():
        return list(db.session.scalars(sa.select(ApiKey.id).order_by(ApiKey.id)))


def test_limits_set_on_keys_hold_for_clients_of_both_apis(app, rt, client, auth, keys, upstream):
    from balancer.services import key_ops
    keys(2)
    first, second = _key_ids(app)
    with app.app_context():
        key_ops.edit_keys(rt, [first], {"rpm_limit": 2})
        key_ops.edit_keys(rt, [second], {"rpd_limit": 3})
    served = [_chat(client, auth) for _ in range(5)]
    assert [r.status_code for r in served] == [200] * 5
    assert sorted(int(r.headers["x-balancer-key"]) for r in served) == [first] * 2 + [second] * 3
    sent = len(upstream.requests)
    over = _chat(client, auth)
    assert over.status_code == 429 and 1 <= int(over.headers["Retry-After"]) <= 60
    assert "own request limit" in over.get_json()["error"]["message"]
    native = client.post(f"/v1beta/models/{MODEL}:generateContent",
                         headers={"x-goog-api-key": auth["Authorization"].split()[1]},
                         json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert native.status_code == 429
    assert native.get_json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert len(upstream.requests) == sent  # refused without sending anything upstream
    with app.app_context():
        key_ops.edit_keys(rt, [first], {"rpm_limit": None})  # lifted: served at once
    assert _chat(client, auth).status_code == 200


def test_a_keys_per_minute_limit_holds_over_several_processes(make_app, upstream):
    """Two processes on one database: each counts the other's leases of the key after a sync."""
    from balancer.services import key_ops
    from balancer.services import keys as key_service
    from tests.conftest import TOKEN
    from tests.fake_upstream import make_key
    a, b = make_app(), make_app()
    for app in (a, b):
        app.extensions["balancer"].services.bootstrap()
    with a.app_context():
        key_service.add_keys(a.extensions["balancer"], [make_key("lim", 0)])
    (key_id,) = _key_ids(a)
    with a.app_context():
        key_ops.edit_keys(a.extensions["balancer"], [key_id], {"rpm_limit": 3})
    for app in (a, b):
        app.extensions["balancer"].services.sync()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert _chat(a.test_client(), auth).status_code == 200
    assert _chat(a.test_client(), auth).status_code == 200
    a.extensions["balancer"].services.sync()  # publishes its two
    b.extensions["balancer"].services.sync()  # learns them
    assert _chat(b.test_client(), auth).status_code == 200
    refused = _chat(b.test_client(), auth)
    assert refused.status_code == 429
    assert "own request limit" in refused.get_json()["error"]["message"]


def test_the_keys_limit_command_sets_limits_the_pool_keeps(app, rt, keys):
    keys(2)
    first, second = _key_ids(app)
    runner = app.test_cli_runner()
    done = runner.invoke(args=["keys", "limit", str(first), str(second), "--rpm", "1"])
    assert done.exit_code == 0 and "2 keys changed" in done.output
    pool_id = rt.keypool.pool_of(first)
    assert {rt.keypool.acquire(pool_id, MODEL).key_id for _ in range(2)} == {first, second}
    with pytest.raises(NoKeyAvailable):
        rt.keypool.acquire(pool_id, MODEL)
    lifted = runner.invoke(args=["keys", "limit", str(first), "--rpm", "0"])
    assert lifted.exit_code == 0
    assert rt.keypool.acquire(pool_id, MODEL).key_id == first
    bad = runner.invoke(args=["keys", "limit", str(first), "--rpd", "-3"])
    assert bad.exit_code == 2 and "rpd_limit" in bad.output
    missing = runner.invoke(args=["keys", "limit", "999999", "--rpd", "3"])
    assert missing.exit_code == 1 and "1 not found" in missing.output
    assert runner.invoke(args=["keys", "limit", str(first)]).exit_code == 2
