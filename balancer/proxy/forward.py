"""The attempt loop: pick a key, call upstream, classify, retry or relay.

No database access here: keys, settings and catalogs come from memory, and
what happened goes to in-memory buffers that the background flusher writes.
The same loop serves OpenAI-format and Gemini-format clients; what differs
between them is asked of an ``ApiFormat`` (formats.py).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import requests
import urllib3
from flask import Response

from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.records import Lease, NoKeyAvailable
from balancer.proxy import endings
from balancer.proxy.auth import ANONYMOUS
from balancer.proxy.formats import FORMATS
from balancer.proxy.relay import StreamRelay, finish_record, in_band_verdict, iter_chunks
from balancer.proxy.validate import health_model
from balancer.runtime import ClientInfo, PoolInfo, Runtime
from balancer.telemetry.record import RequestRecord
from balancer.upstream.errors import UpstreamError, map_requests_error
from balancer.upstream.network import classify_exception
from balancer.upstream.providers import PROVIDERS

SUCCESS = Verdict(Outcome.SUCCESS, status=200)
MAX_ERROR_BODY = 1 << 20
MAX_BACKOFF = 2.0
#: Bytes of a stream's start held back while it carries no answer yet.
MAX_OPENING = 256 * 1024

#: Failures that say something about the key, not the request: switching to
#: another key costs the client nothing, so they draw on a separate budget.
_KEY_LEVEL = (Outcome.KEY_INVALID, Outcome.RATE_LIMITED, Outcome.NO_ACCESS, Outcome.PROXY_FAULT)


@dataclass
class ProxyCall:
    """One client request, checked and ready to forward."""

    route: str
    method: str
    #: the upstream path: OpenAI format ``chat/completions``; Gemini format
    #: ``models/gemini-2.5-flash:generateContent`` (under ``api_version``).
    path: str
    model: Optional[str]
    body: Optional[bytes]
    stream: bool = False
    #: the client asked for the usage-only chunk itself (OpenAI streams).
    wants_usage: bool = True
    client: ClientInfo = ANONYMOUS
    api_format: str = "openai"
    api_version: str = "v1beta"
    #: Gemini streams: "sse" (``alt=sse``) or "array" (the JSON-array framing).
    framing: str = "sse"
    #: query parameters for upstream (already checked; never a key).
    query: dict = field(default_factory=dict)
    #: headers of the client's that go upstream too (checked by the view).
    headers: dict = field(default_factory=dict)
    #: the one key that may serve this call (it owns a file or cache the call uses).
    pin: Optional["Pin"] = None
    #: a 2xx with an empty body or ``{}`` is an answer (an upload's middle chunk, a
    #: delete): for calls that are not generation, whose emptiness means nothing.
    empty_ok: bool = False
    #: sees a whole 2xx answer before the client does (see ``Answer``).
    on_answer: Optional[Callable[["Answer"], Optional[bytes]]] = None


@dataclass(frozen=True)
class Pin:
    """A call only one key can serve, and what ties it to that key."""

    key_id: int
    #: the resource that lives in that key's project, e.g. ``files/abc``.
    owner_of: str

    def explain(self, exc: NoKeyAvailable) -> NoKeyAvailable:
        """The pool's "no key" error, told about this one key and why it matters."""
        return NoKeyAvailable(exc.status, exc.retry_after,
                              f"{self.owner_of} belongs to the project of key #{self.key_id}, "
                              f"and no other key can use it; {exc.message}.")


@dataclass
class Answer:
    """A whole 2xx answer, shown to ``ProxyCall.on_answer`` before it is sent."""

    key_id: int
    upstream_headers: Mapping[str, str]
    parsed: Any
    #: headers to add to the client's response.
    headers: dict = field(default_factory=dict)


@dataclass
class Failure:
    """The last failed attempt, kept to answer with if no key succeeds."""

    verdict: Verdict
    body: bytes = b""
    secrets: tuple[str, ...] = ()


@dataclass
class Attempts:
    """Bookkeeping of one request's attempts."""

    retries: int
    failovers: int
    tried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    last: Optional[Failure] = None

    def may_go_on(self) -> bool:
        """Whether the budget of the last failure's kind allows another attempt."""
        if self.last is None:
            return True
        if self.last.verdict.outcome in _KEY_LEVEL:
            self.failovers -= 1
            return self.failovers >= 0
        self.retries -= 1
        return self.retries >= 0

    def failed_with(self, lease: Lease, verdict: Verdict, body: bytes = b"") -> None:
        """Note a failed attempt."""
        self.failed.append(lease.key_id)
        self.last = Failure(verdict, body, (lease.secret,))


def forward(rt: Runtime, pool: PoolInfo, call: ProxyCall) -> Response:
    """Serve ``call`` from ``pool`` within its client's limits."""
    limits = rt.limits
    if limits is None or not call.client.limited:
        return _serve(rt, pool, call, None)
    fmt = FORMATS[call.api_format]
    refusal = limits.admit(call.client, call.model, len(call.body or b""))
    if refusal is not None:
        return reject(rt, call.route, fmt.error(refusal.status, refusal.message, code=refusal.code,
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
    """Serve ``call`` from ``pool``, retrying on other keys while nothing was sent."""
    started = time.perf_counter()
    settings = rt.settings.current
    provider = PROVIDERS[pool.kind]
    fmt = FORMATS[call.api_format]
    # A format that translates still logs the API its client speaks.
    record = RequestRecord(at=rt.clock(), api_format=getattr(fmt, "client_api", call.api_format),
                           route=call.route,
                           model=call.model, pool_id=pool.id, client_id=call.client.id,
                           client_name=call.client.name, stream=call.stream)
    end = endings.Endings(rt, fmt, record, started)
    url = fmt.url(provider, pool.base_url, call)
    model = health_model(call.model) if call.model else "*"
    timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
    state = Attempts(retries=settings.max_retries, failovers=settings.max_key_failovers)
    while state.may_go_on():
        if state.last is not None and state.last.verdict.wants_backoff:
            spent = settings.max_retries - state.retries
            pause = min(settings.retry_backoff_seconds * 2 ** max(0, spent - 1), MAX_BACKOFF)
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
                                    body=call.body, stream=True, timeout=timeout)
        except UpstreamError as err:
            record.waited(sent_at)
            rt.proxy_failed(proxy, err)
            _failed(rt, state, lease, classify_exception(err))
            continue
        if not 200 <= resp.status_code < 300:
            body = _read_error_body(resp)
            record.waited(sent_at)
            verdict = provider.classify(resp.status_code, resp.headers, body, rt.clock(),
                                        secrets=(lease.secret,))
            rt.push(rt.keypool.release(lease, verdict))
            if not verdict.retryable:
                return end.client_fault(lease, verdict, body)
            state.failed_with(lease, verdict, body)
            continue
        if call.stream:
            chunks = iter_chunks(resp)
            try:
                first, ended = _opening(fmt, chunks, call)
            except UpstreamError as err:
                resp.close()
                _failed(rt, state, lease, classify_exception(err))
                continue
            finally:
                record.waited(sent_at)
            err = fmt.leading_error(first, call)
            if err is not None:
                verdict = in_band_verdict(provider, err, lease, rt.clock())
                if verdict.retryable:
                    resp.close()
                    _failed(rt, state, lease, verdict)
                    continue
            elif ended and not fmt.answered(first):
                # A 200 stream that ended with no text, tool call or finish reason
                # is an empty answer: the key failed this once, another may not.
                resp.close()
                _failed(rt, state, lease, Verdict(
                    Outcome.TRANSIENT, reason="empty_response", status=resp.status_code,
                    message="upstream ended a 2xx stream without any answer"))
                continue
            record.key_id = lease.key_id
            record.failed_keys = tuple(state.failed)
            relay = StreamRelay(rt, provider, fmt, lease, resp, record, started, fmt.new_tap(call),
                                fmt.stream_mimetype(call), on_end=on_stream_end)
            return relay.response(first, chunks)
        done = _complete(rt, fmt, provider, lease, resp, record, state, end, call, sent_at)
        if done is not None:
            return done
    return end.exhausted(state)


def _opening(fmt, chunks, call: ProxyCall) -> tuple[bytes, bool]:
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


def _failed(rt: Runtime, state: Attempts, lease: Lease, verdict: Verdict) -> None:
    rt.push(rt.keypool.release(lease, verdict))
    state.failed_with(lease, verdict)


def _complete(rt: Runtime, fmt, provider, lease: Lease, resp: requests.Response,
              record: RequestRecord, state: Attempts,
              end: "endings.Endings", call: ProxyCall, sent_at: float) -> Optional[Response]:
    """Read a whole non-streamed answer; None when it failed and another key should try."""
    try:
        body = resp.content
    except requests.RequestException as exc:
        _failed(rt, state, lease, classify_exception(map_requests_error(exc)))
        return None
    finally:
        resp.close()
        record.waited(sent_at)
    parsed, verdict = _judge(fmt, provider, resp.status_code, body, call.empty_ok)
    if verdict is not None:
        _failed(rt, state, lease, verdict)
        return None
    rt.push(rt.keypool.release(lease, SUCCESS))
    record.key_id = lease.key_id
    record.failed_keys = tuple(state.failed)
    record.status = resp.status_code
    record.tokens_in, record.tokens_out = fmt.usage(parsed)
    payload, extra = fmt.answer(parsed, body, call), {}
    if call.on_answer is not None:
        answer = Answer(lease.key_id, resp.headers, parsed)
        payload = call.on_answer(answer) or payload
        extra = answer.headers
    out = Response(payload, status=resp.status_code,
                   mimetype=resp.headers.get("Content-Type", "application/json").split(";")[0])
    out.headers.update(extra)
    return finish_record(rt, record, end.started, out)


def _judge(fmt, provider, status: int, body: bytes, empty_ok: bool) -> tuple[Any, Optional[Verdict]]:
    """A 2xx body parsed, and a failure verdict when it is no answer."""
    if empty_ok and not body.strip():
        return None, None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, Verdict(Outcome.TRANSIENT, reason="bad_response", status=status,
                             message="upstream answered with a body that is not JSON")
    return parsed, None if empty_ok else fmt.check_success(provider, parsed)


def _read_error_body(resp: requests.Response) -> bytes:
    """Up to 1 MiB of an error answer; errors are small, a broken one is empty."""
    try:
        return resp.raw.read(MAX_ERROR_BODY, decode_content=True) or b""
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        return b""
    finally:
        resp.close()


reject = endings.reject
