"""What the proxy notes about one client request."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional


#: Outcome classes as charts and the request log show them.
SUCCESS = "success"
CLIENT_ERROR = "client_error"
RATE_LIMITED = "rate_limited"
UPSTREAM_ERROR = "upstream_error"
NO_KEY = "no_key"
CLIENT_GONE = "client_gone"


@dataclass
class RequestRecord:
    """One client request, as the request log and the usage buckets store it."""

    at: float
    api_format: str
    route: str
    model: Optional[str] = None
    pool_id: Optional[int] = None
    key_id: Optional[int] = None
    client_id: Optional[int] = None
    client_name: Optional[str] = None
    stream: bool = False
    status: int = 0
    attempts: int = 0
    latency_ms: int = 0
    ttfb_ms: Optional[int] = None
    tokens_in: int = 0
    tokens_out: int = 0
    error_class: Optional[str] = None
    error_message: Optional[str] = None
    #: keys that failed on the way (key_id), for their failure counters.
    failed_keys: tuple[int, ...] = ()
    #: milliseconds spent waiting on the upstream or in a retry backoff: the
    #: rest of the request's time is Balancer's own (x-balancer-overhead-ms).
    outside_ms: float = 0.0

    def waited(self, since: float) -> None:
        """Add the time since ``since`` (a ``perf_counter`` reading) to ``outside_ms``."""
        self.outside_ms += (time.perf_counter() - since) * 1000

    @property
    def status_class(self) -> str:
        """The outcome class used by usage buckets."""
        if self.error_class:
            return self.error_class
        return SUCCESS if 200 <= self.status < 400 else CLIENT_ERROR
