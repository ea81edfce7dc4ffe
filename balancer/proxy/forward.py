"""The attempt loop: pick a key, call upstream, classify, retry or relay.

No database access here: keys, settings and catalogs come from memory, and
what happened goes to in-memory buffers that the background flusher writes.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Optional

import requests
import urllib3
from flask import Response

from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.records import Lease, NoKeyAvailable
from balancer.proxy.auth import ANONYMOUS
from balancer.proxy.errors import openai_error
from balancer.proxy.relay import StreamRelay, finish_record, in_band_verdict, iter_chunks
from balancer.proxy.sse import leading_error, usage_tokens
from balancer.proxy.validate import health_model
from balancer.runtime import ClientInfo, PoolInfo, Runtime
from balancer.telemetry import record as rec
from balancer.telemetry.record import RequestRecord
from balancer.upstream.errors import UpstreamError, map_requests_error
from balancer.upstream.network import classify_exception
from balancer.upstream.providers import PROVIDERS, Provider

log = logging.getLogger("balancer.proxy")

SUCCESS = Verdict(Outcome.SUCCESS, status=200)
MAX_ERROR_BODY = 1 << 20
MAX_BACKOFF = 2.0


@dataclass
class ProxyCall:
    """One client request in the OpenAI format, ready to forward."""

    route: str
    method: str
    #: the provider's OpenAI-format path, e.g. ``chat/completions``.
    path: str
    model: Optional[str]
    body: Optional[bytes]
    stream: bool = False
    #: the client asked for the usage-only chunk itself.
    wants_usage: bool = True
    client: ClientInfo = ANONYMOUS
    api_format: str = "openai"


@dataclass
class Failure:
    """The last failed attempt, kept to answer with if no key succeeds."""

    verdict: Verdict
    body: bytes = b""
    secrets: tuple[str, ...] = ()


#: Failures that say something about the key, not the request: switching to
#: another key costs the client nothing, so they draw on a separate budget.
_KEY_LEVEL = (Outcome.KEY_INVALID, Outcome.RATE_LIMITED, Outcome.NO_ACCESS, Outcome.PROXY_FAULT)


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


def forward(rt: Runtime, pool: PoolInfo, call: ProxyCall) -> Response:
    """Serve ``call`` from ``pool``, retrying on other keys while nothing was sent."""
    started = time.perf_counter()
    settings = rt.settings.current
    provider = PROVIDERS[pool.kind]
    record = RequestRecord(at=rt.clock(), api_format=call.api_format, route=call.route,
                           model=call.model, pool_id=pool.id, client_id=call.client.id,
                           client_name=call.client.name, stream=call.stream)
    url = provider.openai_url(pool.base_url, call.path)
    model = health_model(call.model) if call.model else "*"
    timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
    state = Attempts(retries=settings.max_retries, failovers=settings.max_key_failovers)
    while state.may_go_on():
        if state.last is not None and state.last.verdict.wants_backoff:
            spent = settings.max_retries - state.retries
            time.sleep(min(settings.retry_backoff_seconds * 2 ** max(0, spent - 1), MAX_BACKOFF))
        try:
            lease = rt.keypool.acquire(pool.id, model, exclude=state.tried)
        except NoKeyAvailable as exc:
            return _no_key(rt, record, state, exc, started)
        state.tried.append(lease.key_id)
        record.attempts += 1
        headers = {"Content-Type": "application/json",
                   # Compressed streams may be held back by a compressor's buffer.
                   "Accept-Encoding": "identity" if call.stream else "gzip, deflate",
                   **provider.auth_headers(lease.secret)}
        try:
            resp = rt.upstream.send(pool.id, pool.proxy_url, call.method, url, headers=headers,
                                    body=call.body, stream=True, timeout=timeout)
        except UpstreamError as err:
            _failed(rt, state, lease, classify_exception(err))
            continue
        if not 200 <= resp.status_code < 300:
            body = _read_error_body(resp)
            verdict = provider.classify(resp.status_code, resp.headers, body, rt.clock(),
                                        secrets=(lease.secret,))
            rt.push(rt.keypool.release(lease, verdict))
            if not verdict.retryable:
                return _relay_error(rt, record, lease, verdict, body, started, provider)
            state.failed.append(lease.key_id)
            state.last = Failure(verdict, body, (lease.secret,))
            continue
        if call.stream:
            chunks = iter_chunks(resp)
            try:
                first = next(chunks, b"")
            except UpstreamError as err:
                resp.close()
                _failed(rt, state, lease, classify_exception(err))
                continue
            err = leading_error(first)
            if err is not None:
                verdict = in_band_verdict(provider, err, lease, rt.clock())
                if verdict.retryable:
                    resp.close()
                    _failed(rt, state, lease, verdict)
                    continue
            record.key_id = lease.key_id
            record.failed_keys = tuple(state.failed)
            relay = StreamRelay(rt, provider, lease, resp, record, started,
                                hide_usage_chunk=not call.wants_usage)
            return relay.response(first, chunks)
        done = _complete(rt, provider, lease, resp, record, state, started)
        if done is not None:
            return done
    return _exhausted(rt, record, state, started)


def reject(rt: Runtime, route: str, out: Response, client: Optional[ClientInfo] = None,
           stream: bool = False) -> Response:
    """Log a request Balancer refused itself (bad input, bad token, not ready)."""
    message = ""
    body = out.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = str(body["error"].get("message") or "")
    client = client or ANONYMOUS
    record = RequestRecord(at=rt.clock(), api_format="openai", route=route, client_id=client.id,
                           client_name=client.name, stream=stream, status=out.status_code,
                           error_class=rec.CLIENT_ERROR if out.status_code < 500 else rec.NO_KEY,
                           error_message=message)
    return finish_record(rt, record, time.perf_counter(), out)


def _failed(rt: Runtime, state: Attempts, lease: Lease, verdict: Verdict) -> None:
    rt.push(rt.keypool.release(lease, verdict))
    state.failed.append(lease.key_id)
    state.last = Failure(verdict)


def _complete(rt: Runtime, provider: Provider, lease: Lease, resp: requests.Response,
              record: RequestRecord, state: Attempts, started: float) -> Optional[Response]:
    """Read a whole non-streamed answer; None when it failed and another key should try."""
    try:
        body = resp.content
    except requests.RequestException as exc:
        _failed(rt, state, lease, classify_exception(map_requests_error(exc)))
        return None
    finally:
        resp.close()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    verdict = provider.check_success(parsed) if parsed is not None else Verdict(
        Outcome.TRANSIENT, reason="bad_response", status=resp.status_code,
        message="upstream answered with a body that is not JSON")
    if verdict is not None:
        _failed(rt, state, lease, verdict)
        return None
    rt.push(rt.keypool.release(lease, SUCCESS))
    record.key_id = lease.key_id
    record.failed_keys = tuple(state.failed)
    record.status = resp.status_code
    record.tokens_in, record.tokens_out = usage_tokens(
        parsed.get("usage") if isinstance(parsed, dict) else None)
    out = Response(body, status=resp.status_code,
                   mimetype=resp.headers.get("Content-Type", "application/json").split(";")[0])
    return finish_record(rt, record, started, out)


def _read_error_body(resp: requests.Response) -> bytes:
    """Up to 1 MiB of an error answer; errors are small, a broken one is empty."""
    try:
        return resp.raw.read(MAX_ERROR_BODY, decode_content=True) or b""
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        return b""
    finally:
        resp.close()


def _relay_error(rt: Runtime, record: RequestRecord, lease: Lease, verdict: Verdict, body: bytes,
                 started: float, provider: Provider) -> Response:
    """The client's own fault: its real status and message, in OpenAI's shape."""
    status = verdict.status or 400
    out = Response(provider.openai_error_body(status, body, (lease.secret,)), status=status,
                   mimetype="application/json")
    record.key_id = lease.key_id
    record.status = status
    record.error_class = rec.CLIENT_ERROR
    record.error_message = verdict.message
    return finish_record(rt, record, started, out)


def _no_key(rt: Runtime, record: RequestRecord, state: Attempts, exc: NoKeyAvailable,
            started: float) -> Response:
    """No (further) key can serve: 429 or 503 with Retry-After, saying why."""
    if state.last is not None and exc.status == 503 and state.last.verdict.outcome in (
            Outcome.TRANSIENT, Outcome.OVERLOADED, Outcome.RATE_LIMITED):
        # Every key was tried and each failed for a passing reason: the upstream's
        # own answer tells the client more than "no key".
        return _exhausted(rt, record, state, started)
    message = exc.message
    if state.last is not None and state.last.verdict.message:
        message += f" Last upstream error: {state.last.verdict.message}"
    record.status = exc.status
    record.failed_keys = tuple(state.failed)
    record.error_class = rec.RATE_LIMITED if exc.status == 429 else rec.NO_KEY
    record.error_message = message
    code = "all_keys_rate_limited" if exc.status == 429 else "no_usable_key"
    out = openai_error(exc.status, message, code=code, retry_after=exc.retry_after)
    return finish_record(rt, record, started, out)


def _exhausted(rt: Runtime, record: RequestRecord, state: Attempts, started: float) -> Response:
    """Every attempt failed: the last upstream status and message, or 502/504."""
    last = state.last
    assert last is not None
    v = last.verdict
    record.failed_keys = tuple(state.failed)
    record.error_message = v.message
    n = len(state.tried)
    if v.outcome is Outcome.RATE_LIMITED:
        record.status, record.error_class = 429, rec.RATE_LIMITED
        out = openai_error(429, f"Rate limited on all {n} keys tried. {v.message}".strip(),
                           code="rate_limit_exceeded", retry_after=v.cooldown)
    elif v.status is not None and v.status >= 500:
        record.status, record.error_class = v.status, rec.UPSTREAM_ERROR
        body = PROVIDERS["gemini"].openai_error_body(v.status, last.body, last.secrets)
        out = Response(body, status=v.status, mimetype="application/json")
    elif v.status is None:
        status = 504 if "timeout" in v.reason else 502
        record.status, record.error_class = status, rec.UPSTREAM_ERROR
        out = openai_error(status, f"Upstream failed on all {n} attempts ({v.reason}).",
                           code=v.reason or "upstream_error")
    else:
        record.status, record.error_class = 503, rec.NO_KEY
        out = openai_error(503, f"No key could serve this request after {n} attempts. "
                                f"Last upstream error: {v.message}", code="no_usable_key")
    return finish_record(rt, record, started, out)
