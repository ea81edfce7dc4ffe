"""Plain values exchanged between the key pool, its database sync and the proxy.

Times are epoch seconds (floats) from the pool's injected clock.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional


class KeyStatus(str, enum.Enum):
    """Key-wide health, independent of the operator's on/off switch."""

    ACTIVE = "active"
    #: Dead (invalid, suspended, ...): skipped until re-enabled or a probe succeeds.
    DISABLED = "disabled"


class Strategy(str, enum.Enum):
    """How the pool picks among usable keys."""

    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    LEAST_BUSY = "least_busy"
    LEAST_USED = "least_used"


@dataclass(frozen=True)
class PoolPolicy:
    """The runtime settings that govern one pool's choices and penalties."""

    strategy: Strategy = Strategy.ROUND_ROBIN
    #: round_robin keeps one key for this many requests before rotating.
    requests_per_key: int = 1
    #: consecutive transient failures (per key and model) before ejection.
    max_failures: int = 3
    #: ejection lasts base x times ejected in a row, capped at max.
    ejection_base: float = 30.0
    ejection_max: float = 1800.0
    #: a healthy key's ejection multiplier decays by one after this long.
    ejection_decay: float = 300.0
    #: per-minute 429 without any delay hint.
    cooldown_default: float = 60.0
    #: added to every upstream-given delay.
    cooldown_margin: float = 1.0
    #: 429 without details: base, doubled on each repeat, capped.
    cooldown_unknown_base: float = 5.0
    cooldown_unknown_max: float = 120.0
    #: NO_ACCESS (project lacks the model, region precondition).
    cooldown_no_access: float = 3600.0


@dataclass
class ModelState:
    """Health of one key for one model; absent means healthy."""

    key_id: int
    model: str
    #: the key may not be used for this model before this time.
    cooldown_until: Optional[float] = None
    #: why it cools down: ``per_minute_quota``, ``per_day_quota``, ``rate_limit``,
    #: ``no_access``, ``ejected``, ``group:<reason>`` (a sibling's rate limit).
    reason: str = ""
    consecutive_failures: int = 0
    #: times ejected in a row (the ejection multiplier).
    ejections: int = 0
    #: consecutive 429s without details (the unknown-cooldown exponent).
    rate_limit_streak: int = 0
    last_error: str = ""
    #: last change, for last-writer-wins against the database.
    updated_at: float = 0.0


@dataclass
class KeyRecord:
    """One upstream key as the pool holds it in memory."""

    id: int
    pool_id: int
    secret: str
    group: Optional[str] = None
    #: the operator's switch.
    enabled: bool = True
    status: KeyStatus = KeyStatus.ACTIVE
    disabled_reason: str = ""
    #: requests counted today (least_used), including other processes' at load.
    requests_today: int = 0
    updated_at: float = 0.0
    #: the operator's own limits for this key (``keypool/limits.py``); None = none.
    rpm_limit: Optional[int] = None
    rpd_limit: Optional[int] = None


@dataclass(frozen=True)
class Lease:
    """A key handed out for one attempt; give it back with ``KeyPool.release``."""

    key_id: int
    pool_id: int
    model: str
    secret: str = field(repr=False)
    acquired_at: float = 0.0


class TransitionKind(str, enum.Enum):
    """State changes that must reach the database (and the key-event log)."""

    COOLDOWN = "cooldown"
    EJECT = "eject"
    DISABLE = "disable"
    RESTORE = "restore"
    #: consecutive-failure count or streak changed without a status change.
    STATE = "state"


@dataclass(frozen=True)
class Transition:
    """A change the pool made; the writer persists ``model_state`` / ``key``."""

    kind: TransitionKind
    key_id: int
    model: Optional[str]
    reason: str = ""
    until: Optional[float] = None
    at: float = 0.0
    #: snapshot of the new per-model state (None for key-wide changes).
    model_state: Optional[ModelState] = None
    #: snapshot of the key after a key-wide change (DISABLE / RESTORE of a key).
    key: Optional[KeyRecord] = None


class NoKeyAvailable(Exception):
    """No key of the pool can serve this model now.

    :param status: 429 when every usable key is cooling down (rate limits),
        503 when none is usable at all (disabled, switched off, ejected, none).
    :param retry_after: seconds until the soonest recovery, ``None`` if unknown.
    :param message: a human sentence that says why (counts per cause, no secrets).
    """

    def __init__(self, status: int, retry_after: Optional[float], message: str):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.message = message
