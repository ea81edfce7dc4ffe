"""Key-health policy: what one verdict does to a key and to its state for one model.

Pure functions in the style of Envoy's passive outlier detection: a rate limit
cools a key down and never counts as a failure; consecutive transient failures
eject it for ``ejection_base x times ejected in a row`` (capped), and the
multiplier decays while the key stays healthy; a dead key is disabled at once.

Nothing here mutates its arguments. Each function returns the new records and
the :class:`~balancer.keypool.records.Transition` (with its own snapshot copy)
that the database writer persists. ``KeyPool`` calls them under its lock.

Two rules hold everywhere: a penalty never shortens a longer cooldown already
running, and the decay of the ejection multiplier counts from the end of the
key's last cooldown for that model (``cooldown_until`` once it is past), which
each decay step moves forward by the periods it used.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Optional

from balancer.keypool.outcome import OPENAI_LAYER_REFUSED, Outcome, Verdict
from balancer.keypool.records import (
    KeyRecord,
    KeyStatus,
    ModelState,
    PoolPolicy,
    Transition,
    TransitionKind,
)

EJECTED = "ejected"
NO_ACCESS = "no_access"
#: Google's OpenAI-compatible layer refuses this kind of key (auth keys): the key is
#: fine, the way it was called is not.
OPENAI_LAYER = OPENAI_LAYER_REFUSED
GROUP_PREFIX = "group:"
#: reasons of a RATE_LIMITED verdict that mean "429 without details".
UNKNOWN_RATE_LIMIT = frozenset({"rate_limit", ""})
#: cooldown reasons that are not rate limits (everything else is).
NOT_RATE_LIMITS = frozenset({EJECTED, NO_ACCESS, OPENAI_LAYER})
#: What a cooldown reason means, for people (the keys page, ``flask keys list``).
REASON_TEXT = {
    EJECTED: "ejected after failures in a row",
    NO_ACCESS: "its project may not use this model (permission or region)",
    OPENAI_LAYER: "Gemini's OpenAI-compatible layer refuses this kind of key (auth keys, AQ.…); "
                  "Gemini's own API serves it: set the pool's openai_api to native",
}
#: longest reason / error text kept on a record.
TEXT_MAX = 300


@dataclass(frozen=True)
class Judgement:
    """What a verdict changes; ``None`` fields are unchanged."""

    state: Optional[ModelState] = None
    key: Optional[KeyRecord] = None
    transition: Optional[Transition] = None
    #: ``(until, reason)`` to spread to the key's group siblings for the same model.
    group_cooldown: Optional[tuple[float, str]] = None


NOTHING = Judgement()


def cooling(state: Optional[ModelState], now: float) -> bool:
    """True when ``state`` keeps its key off its model at ``now``."""
    return (
        state is not None
        and state.cooldown_until is not None
        and state.cooldown_until > now
    )


def is_rate_limit(reason: str) -> bool:
    """True when a cooldown reason is a rate limit (the key recovers by itself soon)."""
    return reason not in NOT_RATE_LIMITS


def describe(verdict: Verdict) -> str:
    """``"<reason>: <message>"``, clipped to :data:`TEXT_MAX` characters."""
    text = f"{verdict.reason}: {verdict.message}" if verdict.message else verdict.reason
    text = " ".join(text.split())
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def judge(
    verdict: Verdict,
    key: KeyRecord,
    model: str,
    state: Optional[ModelState],
    policy: PoolPolicy,
    now: float,
) -> Judgement:
    """Apply the policy table for one verdict on ``key`` for ``model``.

    :param state: the current state for (key, model); ``None`` means healthy.
    """
    outcome = verdict.outcome
    if outcome is Outcome.SUCCESS:
        return on_success(state, policy, now)
    if outcome is Outcome.RATE_LIMITED:
        return on_rate_limited(key.id, model, state, verdict, policy, now)
    if outcome is Outcome.KEY_INVALID:
        return on_key_invalid(key, verdict, now)
    if outcome is Outcome.NO_ACCESS:
        return on_no_access(key.id, model, state, verdict, policy, now)
    if outcome is Outcome.TRANSIENT:
        return on_transient(key.id, model, state, verdict, policy, now)
    # OVERLOADED, CLIENT_ERROR, PROXY_FAULT: neither the key's fault nor its credit.
    return NOTHING


def reason_text(reason: str) -> str:
    """A cooldown reason as people read it (rate-limit reasons are their own words)."""
    return REASON_TEXT.get(reason, reason)


def decay_ejections(state: ModelState, policy: PoolPolicy, now: float) -> ModelState:
    """Lower the ejection multiplier by one per ``ejection_decay`` healthy seconds.

    Returns ``state`` itself when nothing decays, else a new state whose
    ``cooldown_until`` (the start of the healthy period) moved forward by the
    periods used, so that the same healthy time is never counted twice.
    """
    if state.ejections <= 0 or policy.ejection_decay <= 0:
        return state
    since = state.cooldown_until if state.cooldown_until is not None else state.updated_at
    periods = int((now - since) // policy.ejection_decay) if now > since else 0
    if periods <= 0:
        return state
    ejections = max(0, state.ejections - periods)
    if ejections == 0:
        return replace(state, ejections=0, cooldown_until=None, reason="")
    return replace(
        state, ejections=ejections, cooldown_until=since + periods * policy.ejection_decay
    )


def on_success(state: Optional[ModelState], policy: PoolPolicy, now: float) -> Judgement:
    """Heal consecutive failures and the 429 streak; decay the ejection multiplier."""
    if state is None:
        return NOTHING
    new = decay_ejections(state, policy, now)
    if new.consecutive_failures or new.rate_limit_streak:
        new = replace(new, consecutive_failures=0, rate_limit_streak=0)
    if new is state:
        return NOTHING  # nothing persisted changed: no database write
    new.updated_at = now
    return _changed(TransitionKind.STATE, new, now, "healed")


def rate_limit_until(
    verdict: Verdict, streak: int, policy: PoolPolicy, now: float
) -> tuple[float, int]:
    """Return (cooldown end, new 429 streak) for a RATE_LIMITED verdict."""
    if verdict.until is not None:
        return verdict.until, streak
    if verdict.cooldown is not None:
        return now + verdict.cooldown + policy.cooldown_margin, streak
    if verdict.reason in UNKNOWN_RATE_LIMIT:
        seconds = policy.cooldown_unknown_base * 2 ** min(streak, 32)
        return now + min(seconds, policy.cooldown_unknown_max), min(streak + 1, 32)
    return now + policy.cooldown_default + policy.cooldown_margin, streak


def on_rate_limited(
    key_id: int,
    model: str,
    state: Optional[ModelState],
    verdict: Verdict,
    policy: PoolPolicy,
    now: float,
) -> Judgement:
    """Cool (key, model) down; never a failure. Siblings get the same cooldown."""
    current = state or ModelState(key_id=key_id, model=model)
    reason = verdict.reason or "rate_limit"
    until, streak = rate_limit_until(verdict, current.rate_limit_streak, policy, now)
    group = (until, GROUP_PREFIX + reason)
    if cooling(current, now) and current.cooldown_until >= until:
        if streak == current.rate_limit_streak:
            return Judgement(group_cooldown=group)
        new = replace(current, rate_limit_streak=streak, updated_at=now)
        return Judgement(
            state=new,
            transition=_transition(TransitionKind.STATE, new, now, reason),
            group_cooldown=group,
        )
    new = replace(
        current, cooldown_until=until, reason=reason, rate_limit_streak=streak, updated_at=now
    )
    return Judgement(
        state=new,
        transition=_transition(TransitionKind.COOLDOWN, new, now, reason, until),
        group_cooldown=group,
    )


def cool_sibling(
    key_id: int,
    model: str,
    state: Optional[ModelState],
    until: float,
    reason: str,
    now: float,
) -> Judgement:
    """Give a group sibling a cooldown, only when it lengthens its current one."""
    if until <= now or (cooling(state, now) and state.cooldown_until >= until):
        return NOTHING
    new = replace(
        state or ModelState(key_id=key_id, model=model),
        cooldown_until=until,
        reason=reason,
        updated_at=now,
    )
    return _changed(TransitionKind.COOLDOWN, new, now, reason, until)


def on_key_invalid(key: KeyRecord, verdict: Verdict, now: float) -> Judgement:
    """Disable a dead key key-wide, keeping why; no news if it already is."""
    if key.status == KeyStatus.DISABLED:
        return NOTHING
    new = replace(
        key, status=KeyStatus.DISABLED, disabled_reason=describe(verdict), updated_at=now
    )
    return _key_changed(TransitionKind.DISABLE, new, now, verdict.reason)


def on_no_access(
    key_id: int,
    model: str,
    state: Optional[ModelState],
    verdict: Verdict,
    policy: PoolPolicy,
    now: float,
) -> Judgement:
    """Keep the key off this model for a long while: its project cannot use it."""
    current = state or ModelState(key_id=key_id, model=model)
    if verdict.until is not None:
        until = verdict.until
    else:
        until = now + (verdict.cooldown or policy.cooldown_no_access)
    if cooling(current, now) and current.cooldown_until >= until:
        return NOTHING
    reason = OPENAI_LAYER if verdict.reason == OPENAI_LAYER else NO_ACCESS
    new = replace(current, cooldown_until=until, reason=reason, updated_at=now)
    return _changed(TransitionKind.COOLDOWN, new, now, reason, until)


def on_transient(
    key_id: int,
    model: str,
    state: Optional[ModelState],
    verdict: Verdict,
    policy: PoolPolicy,
    now: float,
) -> Judgement:
    """Count a consecutive failure; eject at ``max_failures`` (0 never ejects).

    A failure that arrives while the key is already benched for the model came
    from a request sent before the bench (many are in flight at high
    concurrency): counting it would eject the key again and again for one
    fault, so, as in Envoy's outlier detection, it is ignored.
    """
    if cooling(state, now):
        return NOTHING
    current = decay_ejections(state or ModelState(key_id=key_id, model=model), policy, now)
    failures = current.consecutive_failures + 1
    error = describe(verdict)
    if policy.max_failures <= 0 or failures < policy.max_failures:
        new = replace(current, consecutive_failures=failures, last_error=error, updated_at=now)
        return _changed(TransitionKind.STATE, new, now, verdict.reason)
    ejections = current.ejections + 1
    until = now + min(policy.ejection_base * ejections, policy.ejection_max)
    reason = EJECTED
    if cooling(current, now) and current.cooldown_until > until:
        until, reason = current.cooldown_until, current.reason  # keep the longer penalty
    new = replace(
        current,
        consecutive_failures=0,
        ejections=ejections,
        cooldown_until=until,
        reason=reason,
        last_error=error,
        updated_at=now,
    )
    return _changed(TransitionKind.EJECT, new, now, EJECTED, until)


def restore_state(state: ModelState, now: float) -> Judgement:
    """Clear cooldown, failures, ejections and streak (the last error stays as history)."""
    if (
        state.cooldown_until is None
        and not state.reason
        and not state.consecutive_failures
        and not state.ejections
        and not state.rate_limit_streak
    ):
        return NOTHING
    new = replace(
        state,
        cooldown_until=None,
        reason="",
        consecutive_failures=0,
        ejections=0,
        rate_limit_streak=0,
        updated_at=now,
    )
    return _changed(TransitionKind.RESTORE, new, now, "restored")


def probe_restore_state(state: Optional[ModelState], now: float) -> Judgement:
    """End an ejection early after a good probe; the multiplier stays and decays from now."""
    if not cooling(state, now) or state.reason != EJECTED:
        return NOTHING
    new = replace(state, cooldown_until=now, reason="", consecutive_failures=0, updated_at=now)
    return _changed(TransitionKind.RESTORE, new, now, "probe")


def reset_failures_state(state: ModelState, now: float) -> Judgement:
    """Zero the consecutive-failure count (cooldowns and ejections stay)."""
    if not state.consecutive_failures:
        return NOTHING
    new = replace(state, consecutive_failures=0, updated_at=now)
    return _changed(TransitionKind.STATE, new, now, "reset")


def restore_key(key: KeyRecord, now: float, reason: str = "restored") -> Judgement:
    """Make a DISABLED key ACTIVE again and forget why (the on/off switch is untouched)."""
    if key.status == KeyStatus.ACTIVE and not key.disabled_reason:
        return NOTHING
    new = replace(key, status=KeyStatus.ACTIVE, disabled_reason="", updated_at=now)
    return _key_changed(TransitionKind.RESTORE, new, now, reason)


def switch(key: KeyRecord, enabled: bool, now: float) -> Judgement:
    """Flip the operator's switch: DISABLE "switched_off" or RESTORE "switched_on"."""
    if key.enabled == enabled:
        return NOTHING
    new = replace(key, enabled=enabled, updated_at=now)
    if enabled:
        return _key_changed(TransitionKind.RESTORE, new, now, "switched_on")
    return _key_changed(TransitionKind.DISABLE, new, now, "switched_off")


def _transition(
    kind: TransitionKind,
    state: ModelState,
    now: float,
    reason: str,
    until: Optional[float] = None,
) -> Transition:
    return Transition(
        kind=kind,
        key_id=state.key_id,
        model=state.model,
        reason=reason,
        until=until,
        at=now,
        model_state=copy.copy(state),
    )


def _changed(
    kind: TransitionKind,
    state: ModelState,
    now: float,
    reason: str,
    until: Optional[float] = None,
) -> Judgement:
    """A new model state and its transition (with its own snapshot copy)."""
    return Judgement(state=state, transition=_transition(kind, state, now, reason, until))


def _key_changed(kind: TransitionKind, key: KeyRecord, now: float, reason: str) -> Judgement:
    """A new key record and its key-wide transition (with its own snapshot copy)."""
    return Judgement(
        key=key,
        transition=Transition(
            kind=kind, key_id=key.id, model=None, reason=reason, at=now, key=copy.copy(key)
        ),
    )
