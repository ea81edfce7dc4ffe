"""How a request ends when no key gave an answer: in the client's API format."""
from __future__ import annotations

import time
from typing import Optional

from flask import Response

from balancer.dialects.errors import Untranslatable
from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.records import Lease, NoKeyAvailable
from balancer.proxy.auth import ANONYMOUS
from balancer.proxy.call import Attempts
from balancer.proxy.formats import ApiFormat
from balancer.proxy.relay import finish_record
from balancer.runtime import ClientInfo, Runtime
from balancer.telemetry import record as rec
from balancer.telemetry.record import RequestRecord


class Endings:
    """The ways one request can end without a relayed answer."""

    def __init__(self, rt: Runtime, fmt: ApiFormat, record: RequestRecord, started: float):
        self.rt = rt
        self.fmt = fmt
        self.record = record
        self.started = started

    def _finish(self, out: Response) -> Response:
        return finish_record(self.rt, self.record, self.started, out)

    def client_fault(self, lease: Lease, verdict: Verdict, body: bytes) -> Response:
        """The request itself was at fault: its real status and message."""
        status = verdict.status or 400
        out = Response(self.fmt.upstream_error(status, body, (lease.secret,)), status=status,
                       mimetype="application/json")
        r = self.record
        r.key_id, r.status = lease.key_id, status
        r.error_class, r.error_message = rec.CLIENT_ERROR, verdict.message
        return self._finish(out)

    def untranslatable(self, lease: Lease, exc: Untranslatable) -> Response:
        """The upstream answered, but with nothing the client's API can carry (an image
        request answered without an image): a 400 that says what came instead."""
        r = self.record
        r.key_id, r.status = lease.key_id, 400
        r.error_class, r.error_message = rec.CLIENT_ERROR, exc.message
        return self._finish(self.fmt.error(400, exc.message, param=exc.param,
                                           code="untranslatable_answer"))

    def too_large(self, lease: Lease, limit: int) -> Response:
        """The upstream's whole answer is larger than Balancer relays: a 502 saying so."""
        message = (f"The upstream's answer is larger than {limit // (1 << 20) or 1} MiB, the "
                   "most Balancer relays whole; ask for less, or stream the answer.")
        r = self.record
        r.key_id, r.status = lease.key_id, 502
        r.error_class, r.error_message = rec.UPSTREAM_ERROR, message
        return self._finish(self.fmt.error(502, message, code="upstream_answer_too_large"))

    def no_key(self, state: Attempts, exc: NoKeyAvailable) -> Response:
        """No (further) key can serve: 429 or 503 with Retry-After, saying why."""
        last = state.last
        if exc.status == 503 and state.retry.ended_for_passing_reasons():
            # Every key was tried and each failed for a passing reason (or the way
            # out failed): the upstream's own answer tells more than "no key".
            return self.exhausted(state)
        message = exc.message
        if last is not None and last.verdict.message:
            message += f" Last upstream error: {last.verdict.message}"
        r = self.record
        r.status, r.failed_keys, r.error_message = exc.status, tuple(state.failed), message
        r.error_class = rec.RATE_LIMITED if exc.status == 429 else rec.NO_KEY
        code = "all_keys_rate_limited" if exc.status == 429 else "no_usable_key"
        return self._finish(self.fmt.error(exc.status, message, code=code,
                                           retry_after=exc.retry_after))

    def exhausted(self, state: Attempts) -> Response:
        """Every attempt failed: the last upstream status and message, or 502/504."""
        last = state.last
        assert last is not None
        v, n, r = last.verdict, len(state.tried), self.record
        r.failed_keys, r.error_message = tuple(state.failed), v.message
        if v.outcome is Outcome.RATE_LIMITED:
            r.status, r.error_class = 429, rec.RATE_LIMITED
            out = self.fmt.error(429, f"Rate limited on all {n} keys tried. {v.message}".strip(),
                                 code="rate_limit_exceeded", retry_after=v.cooldown)
        elif v.status is not None and v.status >= 500:
            r.status, r.error_class = v.status, rec.UPSTREAM_ERROR
            out = Response(self.fmt.upstream_error(v.status, last.body, last.secrets),
                           status=v.status, mimetype="application/json")
        elif v.status is None:
            status = 504 if "timeout" in v.reason else 502
            r.status, r.error_class = status, rec.UPSTREAM_ERROR
            out = self.fmt.error(status, f"Upstream failed on all {n} attempts ({v.reason}).",
                                 code=v.reason or "upstream_error")
        else:
            r.status, r.error_class = 503, rec.NO_KEY
            out = self.fmt.error(503, f"No key could serve this request after {n} attempts. "
                                      f"Last upstream error: {v.message}", code="no_usable_key")
        return self._finish(out)


def reject(rt: Runtime, route: str, out: Response, client: Optional[ClientInfo] = None,
           stream: bool = False, api_format: str = "openai") -> Response:
    """Log a request Balancer refused itself (bad input, bad token, not ready)."""
    message = ""
    body = out.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = str(body["error"].get("message") or "")
    client = client or ANONYMOUS
    record = RequestRecord(at=rt.clock(), api_format=api_format, route=route,
                           client_id=client.id, client_name=client.name, stream=stream,
                           status=out.status_code,
                           error_class=rec.CLIENT_ERROR if out.status_code < 500 else rec.NO_KEY,
                           error_message=message)
    return finish_record(rt, record, time.perf_counter(), out)



def answered_here(rt: Runtime, route: str, out: Response, client: ClientInfo, *, api_format: str,
                  pool_id: Optional[int], model: Optional[str]) -> Response:
    """Log a request Balancer answered itself, without an upstream call (an estimate):
    no key and no tokens spent."""
    record = RequestRecord(at=rt.clock(), api_format=api_format, route=route, model=model,
                           pool_id=pool_id, client_id=client.id, client_name=client.name,
                           status=out.status_code)
    return finish_record(rt, record, time.perf_counter(), out)
