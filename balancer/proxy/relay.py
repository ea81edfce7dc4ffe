"""Relaying a streamed answer as it arrives, and closing the books on a request."""
from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from flask import Response

from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.records import Lease
from balancer.keypool.retry import after_first_byte
from balancer.proxy.tap import EVENT_TOO_LARGE
from balancer.runtime import Runtime
from balancer.telemetry import metrics
from balancer.telemetry import record as rec
from balancer.telemetry.record import RequestRecord
from balancer.upstream.errors import UpstreamError
from balancer.upstream.network import classify_exception
from balancer.upstream.providers import Provider
from balancer.upstream.sanitize import redact
from balancer.upstream.transport import UpstreamResponse

if TYPE_CHECKING:
    from balancer.proxy.formats import ApiFormat
    from balancer.proxy.tap import Tap

log = logging.getLogger("balancer.proxy")

#: The most bytes a tap may hold back for one unfinished event (an SSE event without its
#: blank line, an array element without its bracket): an upstream that never ends an
#: event cannot fill a worker's memory. Counted as the bytes taken since the tap last
#: let something out, which is never less than what it holds.
MAX_EVENT = 16 << 20


class StreamRelay:
    """Sends a 200 stream on to the client and settles the key when it ends."""

    def __init__(self, rt: Runtime, provider: Provider, fmt: "ApiFormat", lease: Lease,
                 resp: UpstreamResponse, record: RequestRecord, started: float, tap: "Tap",
                 mimetype: str, on_end: Optional[Callable[[], None]] = None):
        self.rt = rt
        self.on_end = on_end
        self.provider = provider
        self.fmt = fmt
        self.lease = lease
        self.resp = resp
        self.record = record
        self.started = started
        self.tap = tap
        self.mimetype = mimetype

    def response(self, first: bytes, rest: Iterator[bytes]) -> Response:
        """The Flask response; status and headers are fixed before the body starts."""
        out = Response(self._generate(first, rest), status=self.resp.status_code,
                       mimetype=self.mimetype)
        out.headers["Cache-Control"] = "no-cache"
        out.headers["X-Accel-Buffering"] = "no"
        _balancer_headers(out, self.record, self.started)
        return out

    def _generate(self, first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
        verdict = Verdict(Outcome.SUCCESS, status=200)
        record = self.record
        record.status = self.resp.status_code
        try:
            secret = self.lease.secret.encode()
            held = 0
            for chunk in _chain(first, rest):
                out = self.tap.feed(chunk)
                held = 0 if out else held + len(chunk)
                if held > MAX_EVENT:
                    message = (f"The upstream sent a stream event larger than "
                               f"{MAX_EVENT // (1 << 20) or 1} MiB, the most Balancer relays.")
                    verdict = Verdict(Outcome.INTERRUPTED, reason=EVENT_TOO_LARGE,
                                      message=message)
                    yield self.fmt.stream_error(self.tap, message, EVENT_TOO_LARGE)
                    return
                if out:
                    if self.tap.error is not None or secret in out:
                        out = self._cleaned(out)
                    if record.ttfb_ms is None:
                        record.ttfb_ms = _ms(self.started)
                    yield out
            tail = self.tap.finish()
            if tail:
                yield self._cleaned(tail) if self.tap.error is not None or secret in tail else tail
            if self.tap.error is not None:
                verdict = self._error_verdict(self.tap.error)
            elif not self.tap.done:
                verdict = Verdict(Outcome.INTERRUPTED, reason="stream_cut",
                                  message="upstream ended the stream before the answer was complete")
                yield self.fmt.stream_error(self.tap, "The upstream ended the stream early.",
                                            "stream_cut")
        except UpstreamError as err:
            verdict = after_first_byte(classify_exception(err))
            yield self.fmt.stream_error(self.tap, f"The upstream stream failed ({verdict.reason}).",
                                        verdict.reason)
        except GeneratorExit:
            verdict = Verdict(Outcome.INTERRUPTED, reason="client_gone")
            record.error_class = rec.CLIENT_GONE
            raise
        finally:
            # Closing at once frees the upstream connection (and its quota) as
            # soon as the client has gone.
            self.resp.close()
            self.rt.push(self.rt.keypool.release(self.lease, verdict))
            record.tokens_in, record.tokens_out = self.tap.tokens()
            if verdict.outcome is not Outcome.SUCCESS and record.error_class is None:
                record.error_class = (rec.RATE_LIMITED if verdict.outcome is Outcome.RATE_LIMITED
                                      else rec.UPSTREAM_ERROR)
                record.error_message = verdict.message or verdict.reason
            finish_record(self.rt, record, self.started)
            if self.on_end is not None:
                self.on_end()

    def _cleaned(self, out: bytes) -> bytes:
        """Bytes with the key removed: an upstream error inside a 200 stream may echo
        it ("Consumer 'api_key:AIza…' has been suspended"), whole or cut short."""
        return redact(out.decode("utf-8", "replace"), (self.lease.secret,)).encode()

    def _error_verdict(self, err: dict) -> Verdict:
        return after_first_byte(in_band_verdict(self.fmt, self.provider, err, self.lease,
                                                self.rt.clock()))


def in_band_verdict(fmt: "ApiFormat", provider: Provider, err: dict, lease: Lease,
                    now: float) -> Verdict:
    """Classify an error object that arrived inside a 200 stream."""
    code = err.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    return fmt.classify(provider, status, {}, json.dumps({"error": err}).encode(), now,
                        (lease.secret,))


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    # The first event goes on alone: when a stream's start came with several events in
    # one read, its client has the first without waiting until all are translated.
    end = first.find(b"\n\n") + 2
    if 2 <= end < len(first):
        yield first[:end]
        first = first[end:]
    if first:
        yield first
    yield from rest


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _balancer_headers(out: Response, record: RequestRecord, started: float) -> None:
    """Which key (its id, never the key), how many attempts, and the milliseconds
    Balancer itself added (all the time so far but the upstream's and backoffs)."""
    out.headers["x-balancer-attempts"] = str(record.attempts)
    overhead = (time.perf_counter() - started) * 1000 - record.outside_ms
    out.headers["x-balancer-overhead-ms"] = f"{max(0.0, overhead):.2f}"
    if record.key_id is not None:
        out.headers["x-balancer-key"] = str(record.key_id)


def finish_record(rt: Runtime, record: RequestRecord, started: float,
                  out: Response | None = None) -> Response | None:
    """Stamp latency, queue the record, write the request's log line."""
    record.latency_ms = _ms(started)
    if record.ttfb_ms is None and out is not None:
        record.ttfb_ms = record.latency_ms
    if record.error_message:
        record.error_message = redact(record.error_message)[:1000]
    rt.records.append(record)
    pool = rt.catalog.pools.get(record.pool_id) if record.pool_id is not None else None
    metrics.observe(record, pool.name if pool else "-", pool.metric_models if pool else ())
    log.info("%s %s model=%s key_id=%s status=%s attempts=%d latency_ms=%d ttfb_ms=%s%s",
             record.api_format, record.route, record.model or "-", record.key_id or "-",
             record.status, record.attempts, record.latency_ms,
             record.ttfb_ms if record.ttfb_ms is not None else "-",
             f" error={record.error_class}" if record.error_class else "")
    if out is not None:
        _balancer_headers(out, record, started)
    return out
