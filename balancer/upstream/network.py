"""What a failed connection means for the key that was used: a verdict per network error."""
from __future__ import annotations

from balancer.keypool.outcome import Outcome, Verdict
from balancer.upstream.errors import (
    UpstreamConfigError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from balancer.upstream.sanitize import clean_message


def classify_exception(err: UpstreamError) -> Verdict:
    """The verdict for an :class:`UpstreamError` raised instead of an HTTP answer.

    Network trouble says nothing about the key, but the policy counts it as a
    transient failure so a key behind a path that keeps failing gets ejected
    for a while. A call we could not even build is our fault (PROXY_FAULT):
    a bad pool URL must not strike every key of the pool.
    """
    message = clean_message(str(err))
    if isinstance(err, UpstreamConfigError):
        return Verdict(Outcome.PROXY_FAULT, reason="bad_call", message=message)
    if isinstance(err, UpstreamTimeout):
        reason = "connect_timeout" if err.phase == "connect" else "read_timeout"
    elif isinstance(err, UpstreamUnreachable) and err.kind == "proxy":
        # The outgoing proxy failed: nothing is known about the key.
        return Verdict(Outcome.PROXY_FAULT, reason="proxy_error", message=message)
    elif isinstance(err, UpstreamUnreachable):
        reason = "connect_error"
    elif isinstance(err, UpstreamProtocolError):
        reason = "protocol_error"
    else:
        reason = "network_error"
    return Verdict(Outcome.TRANSIENT, reason=reason, message=message)
