"""The attempt loop: pick a key, call upstream, classify, retry or relay.

No database access here: keys, settings and catalogs come from memory, and
what happened goes to in-memory buffers that the background flusher writes.
The same loop serves OpenAI-format and Gemini-format clients; what differs
between them is asked of an ``ApiFormat`` (formats.py).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import orjson
from flask import Response

from balancer.dialects.errors import Untranslatable
from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.records import Lease, NoKeyAvailable
from balancer.keypool.retry import is_retry
from balancer.proxy import endings, keepalive
from balancer.proxy.call import Answer, Attempts, ProxyCall
from balancer.proxy.formats import FORMATS, ApiFormat
from balancer.proxy.relay import StreamRelay, finish_record, in_band_verdict
from balancer.proxy.validate import health_model
from balancer.runtime import PoolInfo, Runtime
from balancer.telemetry.record import RequestRecord
from balancer.upstream.errors import AnswerTooLarge, UpstreamError
from balancer.upstream.network import classify_exception
from balancer.upstream.providers import PROVIDERS, Provider
from balancer.upstream.transport import UpstreamResponse
from balancer.upstream.vertex import Unsupported

SUCCESS = Verdict(Outcome.SUCCESS, status=200)
#: Bytes of a stream's start held back while it carries no answer yet.
MAX_OPENING = 256 * 1024


def forward(rt: Runtime, pool: PoolInfo, call: ProxyCall) -> Response:
    """Serve ``call`` from ``pool`` within its client's limits."""
    fmt = FORMATS[call.api_format]
    try:
        fmt.url(PROVIDERS[pool.kind], pool.base_url, call)
    except Unsupported as exc:
        # A call this pool's upstream has no counterpart for (Vertex AI express mode
        # offers generation and token counting only): the caller's to change.
        return endings.reject(rt, call.route, fmt.error(400, f"Pool '{pool.name}': {exc}"),
                              call.client, stream=call.stream,
                              api_format=getattr(fmt, "client_api", call.api_format))
    limits = rt.limits
    if limits is None or not call.client.limited:
        return _serve(rt, pool, call, None)
    refusal = limits.admit(call.client, call.model, len(call.body or b""))
    if refusal is not None:
        return endings.reject(rt, call.route,
                              fmt.error(refusal.status, refusal.message, code=refusal.code,
                                        retry_after=refusal.retry_after),
                              call.client, stream=call.stream,
                              api_format=getattr(fmt, "client_api", call.api_format))
    ended = []

    def done() -> None:
        if not ended:  # a stream may end both ways; count it once
            ended.append(True)
            limits.done(call.client)

    try:
        out = _serve(rt, pool, call, done)
    except BaseException:
        done()
        raise
    if out.is_streamed:
        out.call_on_close(done)  # also when the client leaves before the first byte
    else:
        done()
    return out


def _serve(rt: Runtime, pool: PoolInfo, call: ProxyCall,
           on_stream_end: Optional[Callable[[], None]]) -> Response:
    """Serve ``call`` from ``pool``: a stream from the whole answer when the pool fakes
    its streams (whole_stream.py), and an SSE stream whose answer is slow to start kept
    open with keep-alives meanwhile (keepalive.py)."""
    fmt = FORMATS[call.api_format]
    values = rt.pool_settings(pool).values
    if call.stream and values.fake_stream:
        call = fmt.unstreamed(call)
    interval = values.stream_keepalive_seconds
    if call.streams_to_client and interval > 0 \
            and fmt.stream_mimetype(call) == "text/event-stream":
        return keepalive.respond(lambda: _attempts(rt, pool, call, on_stream_end), interval,
                                 lambda out: fmt.late_error(call, out))
    return _attempts(rt, pool, call, on_stream_end)


def _attempts(rt: Runtime, pool: PoolInfo, call: ProxyCall,
              on_stream_end: Optional[Callable[[], None]]) -> Response:
    """Serve ``call`` from ``pool``, retrying on other keys while nothing was sent."""
    started = time.perf_counter()
    settings = rt.pool_settings(pool)
    provider = PROVIDERS[pool.kind]
    fmt = FORMATS[call.api_format]
    # A format that translates still logs the API its client speaks.
    record = RequestRecord(at=rt.clock(), api_format=getattr(fmt, "client_api", call.api_format),
                           route=call.route,
                           model=call.model, pool_id=pool.id, client_id=call.client.id,
                           client_name=call.client.name, stream=call.streams_to_client)
    end = endings.Endings(rt, fmt, record, started)
    url = fmt.url(provider, pool.base_url, call)
    model = health_model(call.model) if call.model else "*"
    state = Attempts(settings.retry)
    while True:
        pause = state.retry.backoff()
        if pause:
            time.sleep(pause)
            record.outside_ms += pause * 1000
        try:
            if call.pin is not None:
                lease = rt.keypool.acquire_key(call.pin.key_id, model)
            else:
                lease = rt.keypool.acquire(pool.id, model, exclude=state.tried)
        except NoKeyAvailable as exc:
            return end.no_key(state, call.pin.explain(exc) if call.pin else exc)
        state.tried.append(lease.key_id)
        record.attempts += 1
        headers = {**pool.defaults.headers, "Content-Type": "application/json", **call.headers,
                   # Compressed streams may be held back by a compressor's buffer.
                   "Accept-Encoding": "identity" if call.stream else "gzip, deflate",
                   **fmt.auth_headers(provider, lease.secret)}
        proxy = rt.proxy_for(pool, lease.key_id)
        sent_at = time.perf_counter()
        try:
            resp = rt.upstream.send(pool.id, proxy, call.method, url, headers=headers,
                                    body=call.body, stream=True, timeout=settings.timeout)
        except UpstreamError as err:
            record.waited(sent_at)
            rt.proxy_failed(proxy, err)
            if not _failed(rt, state, lease, classify_exception(err)):
                return end.exhausted(state)
            continue
        if not 200 <= resp.status_code < 300:
            body = resp.read_error_body()
            record.waited(sent_at)
            verdict = fmt.classify(provider, resp.status_code, resp.headers, body, rt.clock(),
                                   (lease.secret,))
            rt.push(rt.keypool.release(lease, verdict))
            if not is_retry(verdict):
                return end.client_fault(lease, verdict, body)
            if not state.failed_with(lease, verdict, body):
                return end.exhausted(state)
            continue
        attempt = _Attempt(rt, fmt, provider, lease, resp, record, state, end, call, sent_at)
        out = attempt.stream(on_stream_end) if call.stream else attempt.complete()
        if out is not None:
            return out


class _Attempt:
    """One 2xx answer from one key: relayed, or judged a failure worth another key."""

    def __init__(self, rt: Runtime, fmt: ApiFormat, provider: Provider, lease: Lease,
                 resp: UpstreamResponse, record: RequestRecord, state: Attempts,
                 end: endings.Endings, call: ProxyCall, sent_at: float) -> None:
        self.rt, self.fmt, self.provider, self.lease = rt, fmt, provider, lease
        self.resp, self.record, self.state, self.end = resp, record, state, end
        self.call, self.sent_at = call, sent_at

    def failed(self, verdict: Verdict) -> Optional[Response]:
        """Charge the key; None when another key may try, else the client's answer."""
        self.resp.close()
        if _failed(self.rt, self.state, self.lease, verdict):
            return None
        return self.end.exhausted(self.state)

    def stream(self, on_end: Optional[Callable[[], None]]) -> Optional[Response]:
        """Hold the stream's start until it carries an answer, then relay the rest."""
        call, fmt, record = self.call, self.fmt, self.record
        chunks = self.resp.iter_chunks()
        try:
            first, ended = _opening(fmt, chunks, call)
        except UpstreamError as err:
            return self.failed(classify_exception(err))
        finally:
            record.waited(self.sent_at)
        err = fmt.leading_error(first, call)
        if err is not None:
            verdict = in_band_verdict(fmt, self.provider, err, self.lease, self.rt.clock())
            if is_retry(verdict):
                return self.failed(verdict)
        elif ended and not fmt.answered(first):
            # A 200 stream that ended with no text, tool call or finish reason
            # is an empty answer: the key failed this once, another may not.
            return self.failed(Verdict(
                Outcome.TRANSIENT, reason="empty_response", status=self.resp.status_code,
                message="upstream ended a 2xx stream without any answer"))
        record.key_id = self.lease.key_id
        record.failed_keys = tuple(self.state.failed)
        relay = StreamRelay(self.rt, self.provider, fmt, self.lease, self.resp, record,
                            self.end.started, fmt.new_tap(call), fmt.stream_mimetype(call),
                            on_end=on_end)
        return relay.response(first, chunks)

    def complete(self) -> Optional[Response]:
        """Read a whole answer and send it on, unless it is no answer at all."""
        rt, fmt, resp, record, call = self.rt, self.fmt, self.resp, self.record, self.call
        try:
            body = resp.content
        except AnswerTooLarge as err:
            # The key did its part; another would send the same answer, so none is tried.
            rt.push(rt.keypool.release(self.lease, SUCCESS))
            return self.end.too_large(self.lease, err.limit)
        except UpstreamError as err:
            return self.failed(classify_exception(err))
        finally:
            resp.close()
            record.waited(self.sent_at)
        parsed, verdict = _judge(fmt, self.provider, resp.status_code, body, call)
        if verdict is not None:
            return self.failed(verdict)
        rt.push(rt.keypool.release(self.lease, SUCCESS))
        record.key_id = self.lease.key_id
        record.failed_keys = tuple(self.state.failed)
        record.status = resp.status_code
        record.tokens_in, record.tokens_out = fmt.usage(parsed)
        if call.fake_stream:
            return self.as_stream(parsed)
        try:
            payload, extra = fmt.answer(parsed, body, call), {}
        except Untranslatable as exc:
            return self.end.untranslatable(self.lease, exc)
        if call.on_answer is not None:
            answer = Answer(self.lease.key_id, resp.headers, parsed, body=payload)
            payload = call.on_answer(answer) or payload
            extra = answer.headers
        upstream_type = resp.headers.get("Content-Type", "application/json")
        out = Response(payload, status=resp.status_code,
                       mimetype=call.answer_type or upstream_type.split(";")[0])
        out.headers.update(extra)
        return finish_record(rt, record, self.end.started, out)

    def as_stream(self, parsed: Any) -> Response:
        """A whole answer sent in the stream framing its client asked for, through the
        same tap (and translation) a real stream of it would pass."""
        fmt, call = self.fmt, self.call
        tap = fmt.new_tap(call)
        try:
            data = tap.feed(fmt.stream_event(parsed, call)) + tap.finish()
        except Untranslatable as exc:
            return self.end.untranslatable(self.lease, exc)
        out = Response(data, status=200, mimetype=fmt.stream_mimetype(call))
        out.headers["Cache-Control"] = "no-cache"
        return finish_record(self.rt, self.record, self.end.started, out)


def _opening(fmt: ApiFormat, chunks, call: ProxyCall) -> tuple[bytes, bool]:
    """The start of a stream, read until it holds some answer or an error (nothing
    has gone to the client yet, so another key can still be tried), and whether
    the stream already ended. Bounded: a long start is relayed as it is."""
    start = b""
    for chunk in chunks:
        start += chunk
        if fmt.answered(start) or fmt.leading_error(start, call) is not None \
                or len(start) > MAX_OPENING:
            return start, False
    return start, True


def _failed(rt: Runtime, state: Attempts, lease: Lease, verdict: Verdict) -> bool:
    """Charge the key with a failure; whether the budget allows another attempt."""
    rt.push(rt.keypool.release(lease, verdict))
    return state.failed_with(lease, verdict)


def _judge(fmt: ApiFormat, provider: Provider, status: int, body: bytes,
           call: ProxyCall) -> tuple[Any, Optional[Verdict]]:
    """A 2xx body parsed, and a failure verdict when it is no answer."""
    empty_ok = call.empty_ok
    if call.binary:
        # Audio bytes: nothing to parse; only their absence says the key failed.
        return None, None if body else Verdict(
            Outcome.TRANSIENT, reason="empty_response", status=status,
            message="upstream answered 2xx without a body")
    if empty_ok and not body.strip():
        return None, None
    try:
        parsed = orjson.loads(body)
    except ValueError:
        return None, Verdict(Outcome.TRANSIENT, reason="bad_response", status=status,
                             message="upstream answered with a body that is not JSON")
    return parsed, None if empty_ok else fmt.check_success(provider, parsed)
