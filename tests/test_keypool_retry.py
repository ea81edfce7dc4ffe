"""The retry policy as a pure value: one failure in, the next policy (or the end) out."""
from __future__ import annotations

import pytest

from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.retry import (
    RetriesSpent,
    RetryPolicy,
    after_first_byte,
    is_retry,
)
from balancer.settings import Settings, defaults

RATE = Verdict(Outcome.RATE_LIMITED, "per_minute_quota", 429, cooldown=5)
DEAD = Verdict(Outcome.KEY_INVALID, "API_KEY_INVALID", 400)
NO_ACCESS = Verdict(Outcome.NO_ACCESS, "PERMISSION_DENIED", 403)
PROXY = Verdict(Outcome.PROXY_FAULT, "proxy_error")
SERVER = Verdict(Outcome.TRANSIENT, "server_error", 500)
TIMEOUT = Verdict(Outcome.TRANSIENT, "read_timeout")
BUSY = Verdict(Outcome.OVERLOADED, "overloaded", 503)
BAD = Verdict(Outcome.CLIENT_ERROR, "bad_request", 400)
OK = Verdict(Outcome.SUCCESS, status=200)
CUT = Verdict(Outcome.INTERRUPTED, "stream_cut")


# --- one failure at a time: which budget it draws on, and the pause after it -------------

@pytest.mark.parametrize(
    ("verdict", "retries_left", "failovers_left", "pause"),
    [
        # key-level failures: another key at once, from the failover budget
        (RATE, 2, 4, 0.0),
        (DEAD, 2, 4, 0.0),
        (NO_ACCESS, 2, 4, 0.0),
        (PROXY, 2, 4, 0.0),
        # passing upstream failures: the retry budget, after the first backoff
        (SERVER, 1, 5, 0.1),
        (TIMEOUT, 1, 5, 0.1),
        (BUSY, 1, 5, 0.1),
    ],
)
def test_a_retryable_failure_draws_on_its_own_budget(verdict, retries_left, failovers_left,
                                                      pause):
    policy = RetryPolicy(retries=2, failovers=5, backoff_base=0.1)
    after = policy.increment(verdict)
    assert (after.retries, after.failovers) == (retries_left, failovers_left)
    assert after.last is verdict and after.attempts == 1
    assert after.backoff() == pytest.approx(pause)
    assert policy.last is None and policy.retries == 2  # the value itself never changes


@pytest.mark.parametrize("verdict", [BAD, OK, CUT])
def test_what_another_key_cannot_mend_ends_at_once(verdict):
    assert not is_retry(verdict)
    with pytest.raises(RetriesSpent) as spent:
        RetryPolicy(retries=5, failovers=5).increment(verdict)
    assert spent.value.last is verdict


# --- sequences: the budgets run out, the backoff doubles and is capped --------------------

@pytest.mark.parametrize(
    ("policy", "failures", "allowed"),
    [
        (RetryPolicy(retries=0, failovers=0), [SERVER], 0),
        (RetryPolicy(retries=0, failovers=0), [RATE], 0),
        (RetryPolicy(retries=2, failovers=0), [SERVER, TIMEOUT, BUSY], 2),
        (RetryPolicy(retries=0, failovers=3), [RATE, DEAD, NO_ACCESS, RATE], 3),
        # key-level failures do not spend the retries, nor retries the failovers
        (RetryPolicy(retries=1, failovers=2), [RATE, SERVER, DEAD, RATE], 3),
        (RetryPolicy(retries=1, failovers=2), [SERVER, RATE, DEAD, TIMEOUT], 3),
    ],
)
def test_the_budgets_end_after_the_last_allowed_failure(policy, failures, allowed):
    for n, verdict in enumerate(failures):
        if n < allowed:
            policy = policy.increment(verdict)
        else:
            with pytest.raises(RetriesSpent) as spent:
                policy.increment(verdict)
            assert spent.value.last is verdict
            return
    pytest.fail("the budget outlasted the failures")


def test_the_backoff_doubles_per_retry_and_is_capped():
    policy = RetryPolicy(retries=10, failovers=10, backoff_base=0.25, backoff_max=1.5)
    pauses = []
    for verdict in (SERVER, SERVER, RATE, BUSY, TIMEOUT, SERVER):
        policy = policy.increment(verdict)
        pauses.append(policy.backoff())
    # the rate limit pauses nothing and does not count as a retry
    assert pauses == [0.25, 0.5, 0.0, 1.0, 1.5, 1.5]


def test_no_backoff_before_the_first_attempt_or_when_switched_off():
    assert RetryPolicy().backoff() == 0.0
    assert RetryPolicy(backoff_base=0).increment(SERVER).backoff() == 0.0


@pytest.mark.parametrize(
    ("failures", "passing"),
    [([SERVER], True), ([BUSY], True), ([RATE], True), ([PROXY], True), ([DEAD], False),
     ([NO_ACCESS], False), ([DEAD, SERVER], True), ([SERVER, DEAD], False), ([], False)],
)
def test_whether_the_last_failure_was_a_passing_one(failures, passing):
    policy = RetryPolicy(retries=9, failovers=9)
    for verdict in failures:
        policy = policy.increment(verdict)
    assert policy.ended_for_passing_reasons() is passing


# --- after the first byte ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("verdict", "outcome"),
    [(RATE, Outcome.RATE_LIMITED), (DEAD, Outcome.KEY_INVALID), (NO_ACCESS, Outcome.NO_ACCESS),
     (SERVER, Outcome.INTERRUPTED), (TIMEOUT, Outcome.INTERRUPTED), (BUSY, Outcome.INTERRUPTED),
     (PROXY, Outcome.INTERRUPTED)],
)
def test_mid_stream_only_quota_and_key_errors_still_charge_the_key(verdict, outcome):
    after = after_first_byte(verdict)
    assert after.outcome is outcome
    assert (after.reason, after.status) == (verdict.reason, verdict.status)


# --- built from the settings and a pool's overrides --------------------------------------

def test_a_pool_policy_takes_the_pool_overrides_over_the_settings():
    settings = Settings({**defaults(), "max_retries": 3, "max_key_failovers": 10,
                         "retry_backoff_seconds": 0.05})
    built = settings.for_pool({"max_retries": 0, "max_key_failovers": 2,
                               "retry_backoff_seconds": 0.5, "read_timeout_seconds": 9,
                               "connect_timeout_seconds": 0.5})
    assert (built.retry.retries, built.retry.failovers, built.retry.backoff_base) == (0, 2, 0.5)
    assert built.timeout == (0.5, 9.0)
    plain = settings.for_pool(None)
    assert (plain.retry.retries, plain.retry.failovers) == (3, 10)
    assert plain.timeout == (defaults()["connect_timeout_seconds"],
                             defaults()["read_timeout_seconds"])


def test_an_override_that_no_longer_passes_its_check_is_ignored():
    built = Settings(defaults()).for_pool({"max_retries": "many", "read_timeout_seconds": 0})
    assert built.retry.retries == defaults()["max_retries"]
    assert built.timeout[1] == defaults()["read_timeout_seconds"]
