"""When one request may be tried again, on which budget, after what pause.

The one home of the retry policy, in the style of urllib3's ``Retry``: an
immutable value built for a pool from the settings and the pool's overrides
(``Settings.for_pool``), asked by the proxy's attempt loop and by the model-list
fetch alike. ``increment`` answers the policy for the next attempt, or raises
:class:`RetriesSpent` carrying the last failure; ``backoff`` is the pause before
that attempt.

Two budgets, because two kinds of failure cost the client differently:

- ``retries``: the upstream failed for a passing reason (5xx, timeout,
  overload, connection error, an empty answer). Another attempt costs time,
  so these are few and paused by a doubling backoff.
- ``failovers``: the key was at fault (dead, rate-limited, no access to the
  model) or the way out was (an outgoing proxy). Another key costs nothing, so
  these are many and never paused.

Nothing here knows HTTP or Flask; the clock and the sleep belong to callers.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from balancer.keypool.outcome import Outcome, Verdict

#: Outcomes after which the same request may be tried on another key, as long as
#: nothing was sent to the client yet. The others are the request's own fault
#: (CLIENT_ERROR) or come after the answer began (SUCCESS, INTERRUPTED).
RETRYABLE = frozenset({
    Outcome.RATE_LIMITED,
    Outcome.KEY_INVALID,
    Outcome.NO_ACCESS,
    Outcome.TRANSIENT,
    Outcome.OVERLOADED,
    Outcome.PROXY_FAULT,
})

#: Failures that say something about the key (or the way out), not the upstream's
#: health: they draw on the ``failovers`` budget and are never paused.
KEY_LEVEL = frozenset({Outcome.KEY_INVALID, Outcome.RATE_LIMITED, Outcome.NO_ACCESS,
                       Outcome.PROXY_FAULT})

#: Outcomes after which a short backoff is worth waiting before the next attempt.
BACKOFF = frozenset({Outcome.TRANSIENT, Outcome.OVERLOADED})

#: Failures for passing reasons: when every key ends up cooling or ejected after
#: them, the upstream's own last answer tells the client more than "no key".
PASSING = frozenset({Outcome.TRANSIENT, Outcome.OVERLOADED, Outcome.RATE_LIMITED,
                     Outcome.PROXY_FAULT})

#: Failures inside an answer that had begun and that still charge the key: a
#: quota or key error is the key's, whenever it shows.
CHARGED_MID_STREAM = frozenset({Outcome.RATE_LIMITED, Outcome.KEY_INVALID, Outcome.NO_ACCESS})

#: The longest pause between two attempts, whatever the doubling reaches.
MAX_BACKOFF = 2.0


class RetriesSpent(Exception):
    """No further attempt: the budget of the last failure's kind is spent."""

    def __init__(self, last: Verdict) -> None:
        super().__init__(f"retries spent after {last.outcome.value}")
        #: the failure that spent it; the client is answered from it.
        self.last = last


def is_retry(verdict: Verdict) -> bool:
    """Whether another key may answer better than the one that gave ``verdict``."""
    return verdict.outcome in RETRYABLE


def after_first_byte(verdict: Verdict) -> Verdict:
    """What a failure means once the answer has begun: no retry is possible, and
    only a quota or key error still charges the key; anything else is an
    interruption that leaves the key as it was."""
    if verdict.outcome in CHARGED_MID_STREAM:
        return verdict
    return Verdict(Outcome.INTERRUPTED, reason=verdict.reason, status=verdict.status,
                   message=verdict.message)


@dataclass(frozen=True)
class RetryPolicy:
    """The attempts one request has left, and what the last one ended with.

    :param retries: further attempts after passing upstream failures.
    :param failovers: further keys after key-level failures.
    :param backoff_base: the first pause, in seconds; it doubles per retry.
    :param backoff_max: the longest pause.
    :param history: every failure so far, oldest first.
    """

    retries: int = 3
    failovers: int = 10
    backoff_base: float = 0.05
    backoff_max: float = MAX_BACKOFF
    history: tuple[Verdict, ...] = ()
    #: retries spent so far (the backoff doubles with it).
    retried: int = 0

    @property
    def last(self) -> Optional[Verdict]:
        """The latest failure, or None before any."""
        return self.history[-1] if self.history else None

    @property
    def attempts(self) -> int:
        """Attempts made so far that failed."""
        return len(self.history)

    def increment(self, verdict: Verdict) -> "RetryPolicy":
        """The policy after a failed attempt.

        :raises RetriesSpent: ``verdict`` is not worth another key, or its
            budget is spent; ``.last`` is ``verdict``.
        """
        if not is_retry(verdict):
            raise RetriesSpent(verdict)
        history = (*self.history, verdict)
        if verdict.outcome in KEY_LEVEL:
            if self.failovers <= 0:
                raise RetriesSpent(verdict)
            return replace(self, failovers=self.failovers - 1, history=history)
        if self.retries <= 0:
            raise RetriesSpent(verdict)
        return replace(self, retries=self.retries - 1, retried=self.retried + 1, history=history)

    def backoff(self) -> float:
        """Seconds to pause before the next attempt: none after a key-level failure
        (another key is as good at once), else ``base * 2**(n-1)`` for the n-th
        retry, capped."""
        last = self.last
        if last is None or last.outcome not in BACKOFF or self.backoff_base <= 0:
            return 0.0
        return min(self.backoff_base * 2 ** max(0, self.retried - 1), self.backoff_max)

    def ended_for_passing_reasons(self) -> bool:
        """Whether the last failure was a passing one (see ``PASSING``)."""
        last = self.last
        return last is not None and last.outcome in PASSING
