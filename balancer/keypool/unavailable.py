"""Why no key can serve a request: the 429/503 error and its message."""
from __future__ import annotations

import math
from collections import Counter
from typing import Collection, Iterable, Mapping, Optional

from balancer.keypool.health import EJECTED, NO_ACCESS, NOT_RATE_LIMITS, OPENAI_LAYER, cooling
from balancer.keypool.records import KeyRecord, KeyStatus, ModelState, NoKeyAvailable

#: the cause "at the key's own limit", next to the cooldown reasons.
OWN_LIMIT = "own_limit"


def explain_unavailable(
    model: str,
    keys: Iterable[KeyRecord],
    states: Mapping[int, ModelState],
    exclude: Collection[int],
    now: float,
    at_limit: Mapping[int, float] = {},
) -> NoKeyAvailable:
    """Build the error for "no key of this pool can serve ``model`` now".

    429 when at least one key is switched on and ACTIVE and every such key is
    rate-limited for the model; 503 otherwise. The message counts keys per
    cause and names only reason codes, never a secret or an upstream message.

    :param states: this model's states of the pool's keys, by key id.
    :param at_limit: keys at their own request limit, with when they free up:
        they count as rate-limited (the client's wait is the same).
    """
    total = live = off = tried = 0
    disabled: Counter[str] = Counter()
    cooled: dict[str, list[float]] = {"rate": [], OWN_LIMIT: [], EJECTED: [], NO_ACCESS: [],
                                      OPENAI_LAYER: []}
    for key in keys:
        total += 1
        if not key.enabled:
            off += 1
        elif key.status == KeyStatus.DISABLED:
            disabled[_reason_code(key.disabled_reason)] += 1
        else:
            live += 1
            state = states.get(key.id)
            if cooling(state, now):
                kind = state.reason if state.reason in NOT_RATE_LIMITS else "rate"
                cooled[kind].append(state.cooldown_until)
            elif key.id in at_limit:
                cooled[OWN_LIMIT].append(at_limit[key.id])
            else:
                tried += 1  # usable, so the caller's exclude list holds it
    ends = [u for group in cooled.values() for u in group]
    retry_after = max(1, math.ceil(min(ends) - now)) if ends else None
    rate_limited = len(cooled["rate"]) + len(cooled[OWN_LIMIT])
    status = 429 if live and rate_limited == live else 503
    if not total:
        return NoKeyAvailable(503, None, f"No key can serve {model}: the pool has no keys.")
    parts = []
    if tried and not ends:
        parts.append(
            "the only usable key was already tried by this request"
            if tried == 1
            else f"all {tried} usable keys were already tried by this request"
        )
    elif tried:
        parts.append(f"{tried} already tried by this request")
    labels = {
        "rate": "rate-limited (soonest usable in {} s)",
        OWN_LIMIT: "at their own request limit (soonest usable in {} s)",
        EJECTED: "ejected after repeated errors (back in {} s)",
        NO_ACCESS: "without access to this model (retry in {} s)",
        OPENAI_LAYER: "refused by Gemini's OpenAI-compatible layer, which refuses this kind "
                      "of key (auth keys): set the pool's openai_api to native, where Gemini's "
                      "own API serves them (retry in {} s)",
    }
    for kind, label in labels.items():
        if cooled[kind]:
            seconds = max(1, math.ceil(min(cooled[kind]) - now))
            parts.append(f"{len(cooled[kind])} " + label.format(seconds))
    if disabled:
        codes = ", ".join(code for code, _ in disabled.most_common())
        parts.append(f"{sum(disabled.values())} disabled ({codes})")
    if off:
        parts.append(f"{off} switched off")
    return NoKeyAvailable(status, retry_after, f"No key can serve {model}: {', '.join(parts)}.")


def explain_key(key: KeyRecord, state: Optional[ModelState], now: float,
                free_at: Optional[float] = None) -> NoKeyAvailable:
    """Why one particular key cannot serve now: 429 with the wait when it is
    rate-limited or at its own limit, else 503 (with the wait when it comes
    back by itself)."""
    if not key.enabled:
        return NoKeyAvailable(503, None, f"key #{key.id} is switched off")
    if key.status == KeyStatus.DISABLED:
        return NoKeyAvailable(503, None, f"key #{key.id} is disabled "
                                         f"({_reason_code(key.disabled_reason)})")
    if free_at is not None and not cooling(state, now):
        seconds = max(1, math.ceil(free_at - now))
        return NoKeyAvailable(429, seconds, f"key #{key.id} is at its own request limit "
                                            f"(usable in {seconds} s)")
    assert state is not None and state.cooldown_until is not None
    seconds = max(1, math.ceil(state.cooldown_until - now))
    if state.reason == EJECTED:
        return NoKeyAvailable(503, seconds, f"key #{key.id} is ejected after repeated "
                                            f"errors (back in {seconds} s)")
    if state.reason == NO_ACCESS:
        return NoKeyAvailable(503, seconds, f"key #{key.id} has no access to {state.model} "
                                            f"(retry in {seconds} s)")
    if state.reason == OPENAI_LAYER:
        return NoKeyAvailable(503, seconds, f"key #{key.id} is refused by Gemini's "
                                            "OpenAI-compatible layer (set the pool's "
                                            f"openai_api to native; retry in {seconds} s)")
    return NoKeyAvailable(429, seconds, f"key #{key.id} is rate-limited for {state.model} "
                                        f"(usable in {seconds} s)")


def _reason_code(disabled_reason: str) -> str:
    """The code before the first colon of a disabled reason (no upstream text)."""
    code = disabled_reason.split(":", 1)[0].strip()
    return code[:60] if code else "no reason given"
