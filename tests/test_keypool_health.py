"""The key-health policy as pure functions: one verdict, one state, one transition."""
from __future__ import annotations

import pytest

from balancer.keypool import health
from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.records import (
    KeyRecord,
    KeyStatus,
    ModelState,
    PoolPolicy,
    TransitionKind,
)

NOW = 1_750_000_000.0
MODEL = "gemini-2.5-flash"
POLICY = PoolPolicy()  # margin 1, default 60, unknown 5..120, no access 3600


def key(**fields) -> KeyRecord:
    return KeyRecord(id=1, pool_id=1, secret="AIza-secret-1", **fields)


def state(**fields) -> ModelState:
    return ModelState(key_id=1, model=MODEL, **fields)


def judge(verdict, st=None, policy=POLICY, k=None, now=NOW):
    return health.judge(verdict, k or key(), MODEL, st, policy, now)


# --- the policy table, one row per upstream answer ---------------------------

@pytest.mark.parametrize(
    ("verdict", "before", "cooldown", "reason", "streak"),
    [
        # per-minute quota with RetryInfo: the delay plus the margin
        (Verdict(Outcome.RATE_LIMITED, "per_minute_quota", 429, cooldown=12.5), None, 13.5,
         "per_minute_quota", 0),
        # per-day quota: until the time the adapter computed (next midnight Pacific)
        (Verdict(Outcome.RATE_LIMITED, "per_day_quota", 429, until=NOW + 5000, cooldown=9),
         None, 5000, "per_day_quota", 0),
        # 429 without details: short, doubling on repeats, capped
        (Verdict(Outcome.RATE_LIMITED, "rate_limit", 429), None, 5, "rate_limit", 1),
        (Verdict(Outcome.RATE_LIMITED, "rate_limit", 429), state(rate_limit_streak=2), 20,
         "rate_limit", 3),
        (Verdict(Outcome.RATE_LIMITED, "rate_limit", 429), state(rate_limit_streak=10), 120,
         "rate_limit", 11),
        # 429 of another kind without a delay: the default plus the margin
        (Verdict(Outcome.RATE_LIMITED, "rate_limit_exceeded", 429), None, 61,
         "rate_limit_exceeded", 0),
        # no access to the model: the setting, or what the verdict says
        (Verdict(Outcome.NO_ACCESS, "PERMISSION_DENIED", 403), None, 3600, "no_access", 0),
        (Verdict(Outcome.NO_ACCESS, "FAILED_PRECONDITION", 400, cooldown=600), None, 600,
         "no_access", 0),
    ],
)
def test_cooldown_verdicts_cool_the_key_for_the_model(verdict, before, cooldown, reason, streak):
    j = judge(verdict, before)
    assert j.state.cooldown_until == pytest.approx(NOW + cooldown)
    assert j.state.reason == reason
    assert j.state.rate_limit_streak == streak
    assert j.state.consecutive_failures == 0
    assert j.state.updated_at == NOW
    assert j.transition.kind is TransitionKind.COOLDOWN
    assert j.transition.until == pytest.approx(NOW + cooldown)
    assert j.transition.at == NOW
    assert j.key is None


def test_a_rate_limit_never_counts_as_a_failure():
    j = judge(Verdict(Outcome.RATE_LIMITED, "per_minute_quota"), state(consecutive_failures=2))
    assert j.state.consecutive_failures == 2


def test_a_rate_limit_asks_to_cool_group_siblings_with_a_group_reason():
    j = judge(Verdict(Outcome.RATE_LIMITED, "per_minute_quota", cooldown=10))
    assert j.group_cooldown == (NOW + 11, "group:per_minute_quota")


def test_a_rate_limit_never_shortens_a_longer_cooldown():
    before = state(cooldown_until=NOW + 50_000, reason="per_day_quota", updated_at=NOW - 5)
    j = judge(Verdict(Outcome.RATE_LIMITED, "per_minute_quota", cooldown=10), before)
    assert j.state is None and j.transition is None
    assert before.cooldown_until == NOW + 50_000



def test_a_429_after_a_healed_streak_keeps_the_longer_cooldown_and_counts_again():
    # Streak 2 cooled the key 10 s; a call already in flight succeeded (streak healed);
    # another in-flight call then met a 429 without details 0.3 s later.
    after_two = judge(Verdict(Outcome.RATE_LIMITED, "rate_limit", 429),
                      state(rate_limit_streak=1)).state
    assert after_two.cooldown_until == NOW + 10
    healed = judge(Verdict(Outcome.SUCCESS), after_two, now=NOW + 0.2).state
    assert healed.rate_limit_streak == 0 and healed.cooldown_until == NOW + 10
    j = judge(Verdict(Outcome.RATE_LIMITED, "rate_limit", 429), healed, now=NOW + 0.3)
    assert j.state.rate_limit_streak == 1
    assert j.state.cooldown_until == NOW + 10  # not shortened to NOW + 0.3 + 5
    assert j.state.updated_at == NOW + 0.3
    assert j.transition.kind is TransitionKind.STATE

def test_a_sibling_is_cooled_only_when_that_lengthens_its_cooldown():
    longer = state(cooldown_until=NOW + 100, reason="per_minute_quota")
    assert health.cool_sibling(1, MODEL, longer, NOW + 50, "group:rate_limit", NOW) is health.NOTHING
    j = health.cool_sibling(1, MODEL, None, NOW + 50, "group:rate_limit", NOW)
    assert j.state.cooldown_until == NOW + 50
    assert j.transition.kind is TransitionKind.COOLDOWN
    assert j.transition.reason == "group:rate_limit"


def test_an_invalid_key_is_disabled_with_its_reason_kept():
    verdict = Verdict(Outcome.KEY_INVALID, "API_KEY_INVALID", 400, "API key not valid.")
    j = judge(verdict)
    assert j.key.status is KeyStatus.DISABLED
    assert j.key.disabled_reason == "API_KEY_INVALID: API key not valid."
    assert j.key.updated_at == NOW
    assert j.transition.kind is TransitionKind.DISABLE
    assert j.transition.model is None
    assert j.transition.key == j.key and j.transition.key is not j.key


def test_an_already_disabled_key_makes_no_new_transition():
    j = judge(Verdict(Outcome.KEY_INVALID, "API_KEY_INVALID"), k=key(status=KeyStatus.DISABLED))
    assert j is health.NOTHING


def test_a_disabled_reason_is_trimmed_to_about_300_characters():
    j = judge(Verdict(Outcome.KEY_INVALID, "CONSUMER_SUSPENDED", 403, "x" * 5000))
    assert len(j.key.disabled_reason) <= 300
    assert j.key.disabled_reason.startswith("CONSUMER_SUSPENDED: xxx")


def test_a_transient_failure_is_counted_and_shown():
    j = judge(Verdict(Outcome.TRANSIENT, "server_error", 500, "Internal error"))
    assert j.state.consecutive_failures == 1
    assert j.state.last_error == "server_error: Internal error"
    assert j.transition.kind is TransitionKind.STATE
    assert health.cooling(j.state, NOW) is False


@pytest.mark.parametrize("outcome", [Outcome.OVERLOADED, Outcome.CLIENT_ERROR, Outcome.PROXY_FAULT])
def test_answers_that_are_not_the_keys_fault_change_nothing(outcome):
    assert judge(Verdict(outcome, "x"), state(consecutive_failures=2)) is health.NOTHING


def test_success_heals_failures_and_the_429_streak():
    j = judge(Verdict(Outcome.SUCCESS), state(consecutive_failures=2, rate_limit_streak=3))
    assert (j.state.consecutive_failures, j.state.rate_limit_streak) == (0, 0)
    assert j.transition.kind is TransitionKind.STATE


@pytest.mark.parametrize("before", [None, state(), state(last_error="old", updated_at=NOW - 9)])
def test_success_on_a_healthy_key_needs_no_database_write(before):
    assert judge(Verdict(Outcome.SUCCESS), before) is health.NOTHING


def test_success_does_not_end_a_running_cooldown():
    before = state(cooldown_until=NOW + 30, reason="per_minute_quota")
    assert judge(Verdict(Outcome.SUCCESS), before) is health.NOTHING


# --- ejection: base x n, capped, decaying ---------------------------------------

FAIL = Verdict(Outcome.TRANSIENT, "timeout")


@pytest.mark.parametrize(
    ("ejections_before", "seconds"),
    [(0, 30), (1, 60), (2, 90), (59, 1800), (200, 1800)],
)
def test_ejection_lasts_base_times_ejections_in_a_row_capped(ejections_before, seconds):
    before = state(consecutive_failures=2, ejections=ejections_before,
                   cooldown_until=NOW - 1, reason="ejected")
    j = judge(FAIL, before)
    assert j.transition.kind is TransitionKind.EJECT
    assert j.state.ejections == ejections_before + 1
    assert j.state.cooldown_until == NOW + seconds
    assert j.state.reason == "ejected"
    assert j.state.consecutive_failures == 0


def test_max_failures_zero_never_ejects():
    j = judge(FAIL, state(consecutive_failures=50), policy=PoolPolicy(max_failures=0))
    assert j.transition.kind is TransitionKind.STATE
    assert j.state.consecutive_failures == 51


def test_a_failure_while_benched_changes_nothing():
    # Requests sent before the bench come back failed at high concurrency: one
    # fault must not eject the key again and again, nor shorten a longer cooldown.
    for reason in ("per_day_quota", "ejected"):
        before = state(consecutive_failures=2, ejections=1, cooldown_until=NOW + 9000,
                       reason=reason)
        assert judge(FAIL, before) is health.NOTHING


def test_an_ejection_after_the_bench_counts_once_more():
    before = state(consecutive_failures=2, ejections=1, cooldown_until=NOW - 1, reason="ejected")
    j = judge(FAIL, before)
    assert j.state.ejections == 2 and j.state.reason == "ejected"


def test_the_ejection_multiplier_decays_one_step_per_healthy_period():
    # Ejected three times; the last ejection ended 650 s ago: two periods of 300 s.
    before = state(ejections=3, cooldown_until=NOW - 650, reason="ejected")
    j = judge(Verdict(Outcome.SUCCESS), before)
    assert j.state.ejections == 1
    assert j.transition.kind is TransitionKind.STATE
    # The 50 s left over count towards the next step, never twice.
    assert judge(Verdict(Outcome.SUCCESS), j.state, now=NOW + 200) is health.NOTHING
    last = judge(Verdict(Outcome.SUCCESS), j.state, now=NOW + 250)
    assert last.state.ejections == 0
    assert last.state.cooldown_until is None


def test_the_multiplier_does_not_decay_while_the_key_is_still_ejected():
    before = state(ejections=2, cooldown_until=NOW + 10, reason="ejected")
    assert judge(Verdict(Outcome.SUCCESS), before) is health.NOTHING


def test_a_long_healthy_time_makes_the_next_ejection_short_again():
    before = state(consecutive_failures=2, ejections=4, cooldown_until=NOW - 5000, reason="ejected")
    j = judge(FAIL, before)
    assert j.state.ejections == 1
    assert j.state.cooldown_until == NOW + 30


# --- admin and probe helpers ----------------------------------------------------

def test_a_good_probe_ends_an_ejection_but_keeps_the_multiplier():
    before = state(ejections=2, cooldown_until=NOW + 40, reason="ejected")
    j = health.probe_restore_state(before, NOW)
    assert j.transition.kind is TransitionKind.RESTORE
    assert health.cooling(j.state, NOW) is False
    assert j.state.ejections == 2


def test_a_probe_does_not_touch_a_rate_limit_cooldown():
    before = state(cooldown_until=NOW + 40, reason="per_minute_quota")
    assert health.probe_restore_state(before, NOW) is health.NOTHING


def test_restore_clears_everything_but_the_last_error():
    before = state(cooldown_until=NOW + 40, reason="ejected", consecutive_failures=1,
                   ejections=3, rate_limit_streak=2, last_error="timeout")
    j = health.restore_state(before, NOW)
    assert (j.state.cooldown_until, j.state.reason, j.state.consecutive_failures,
            j.state.ejections, j.state.rate_limit_streak) == (None, "", 0, 0, 0)
    assert j.state.last_error == "timeout"
    assert health.restore_state(j.state, NOW) is health.NOTHING


def test_judging_never_mutates_its_arguments():
    before = state(consecutive_failures=2, ejections=1, cooldown_until=NOW - 1)
    k = key()
    for verdict in [FAIL, Verdict(Outcome.RATE_LIMITED, "rate_limit"),
                    Verdict(Outcome.KEY_INVALID, "API_KEY_INVALID"), Verdict(Outcome.SUCCESS)]:
        judge(verdict, before, k=k)
    assert before == state(consecutive_failures=2, ejections=1, cooldown_until=NOW - 1)
    assert k == key()
