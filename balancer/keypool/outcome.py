"""What one upstream answer means for the key that sent it and for the client.

The upstream adapters (``balancer.upstream``) turn an HTTP answer into a
:class:`Verdict`; the key pool (``balancer.keypool.pool``) turns a verdict into
a state transition; whether the client's request goes on to another key is
``balancer.keypool.retry``'s to say. Nothing here knows about HTTP libraries or Flask.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional


class Outcome(enum.Enum):
    """The classes of upstream answers that the key-health policy tells apart."""

    #: 2xx with content: consecutive failures reset.
    SUCCESS = "success"
    #: The request itself is at fault (400 other, 404, 413, 422, blocked prompt is
    #: a SUCCESS): no penalty, no retry, relayed to the client as is.
    CLIENT_ERROR = "client_error"
    #: 429 with a per-minute quota, a per-day quota, or no details: the key cools
    #: down for ``Verdict.cooldown`` seconds or until ``Verdict.until``. Never a failure.
    RATE_LIMITED = "rate_limited"
    #: The key is dead (invalid, expired, revoked, suspended, leaked, API disabled,
    #: no credit): disabled at once with ``Verdict.reason`` kept.
    KEY_INVALID = "key_invalid"
    #: The key (its project) cannot use this model or region right now
    #: ("caller does not have permission", FAILED_PRECONDITION): a long cooldown
    #: for that model only.
    NO_ACCESS = "no_access"
    #: 5xx (other than overloaded), timeout, connection error, empty 200:
    #: consecutive failures +1, ejected at ``max_failures``.
    TRANSIENT = "transient"
    #: 503 model overloaded / high demand: the model is busy, not the key. No
    #: penalty; retried on another key after a short backoff.
    OVERLOADED = "overloaded"
    #: Balancer itself sent a broken call (e.g. 403 "unregistered callers": no key
    #: sent). No penalty to the key; logged loudly.
    PROXY_FAULT = "proxy_fault"
    #: The answer had started and then broke off (a network error or an upstream
    #: 5xx mid-stream), or the client left: no change to the key. Mid-stream
    #: rate limits and key errors are classified as such instead.
    INTERRUPTED = "interrupted"


#: The verdict reason for a key that Google's OpenAI-compatible layer refuses by its kind
#: (auth keys): NO_ACCESS, kept as the key's state so that people see why.
OPENAI_LAYER_REFUSED = "openai_layer_refuses_key"


@dataclass(frozen=True)
class Verdict:
    """The classified meaning of one upstream answer.

    :param outcome: the policy class.
    :param reason: a short machine-readable cause, e.g. ``API_KEY_INVALID``,
        ``CONSUMER_SUSPENDED``, ``per_minute_quota``, ``per_day_quota``,
        ``rate_limit``, ``server_error``, ``timeout``, ``connect_error``,
        ``empty_response``, ``overloaded``, ``bad_request``.
    :param status: the upstream HTTP status, ``None`` for network errors.
    :param message: the upstream's human message, already stripped of secrets.
    :param cooldown: for RATE_LIMITED / NO_ACCESS, seconds to cool down, when the
        upstream said (RetryInfo, Retry-After, x-ratelimit-reset-*); ``None`` lets
        the key pool use its setting.
    :param until: absolute epoch seconds the cooldown lasts to (per-day quota:
        next midnight US Pacific); wins over ``cooldown``.
    """

    outcome: Outcome
    reason: str = ""
    status: Optional[int] = None
    message: str = ""
    cooldown: Optional[float] = None
    until: Optional[float] = None
