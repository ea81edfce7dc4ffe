"""The fake's WSGI application: URL layout, the request pipeline and recording.

URL layout (one port serves all three flavours):

- ``/v1beta/...`` and ``/v1/...``: Gemini's native API (``gemini_native.py``);
- ``/v1beta/openai/...``: Gemini's OpenAI-compatible layer (``openai_compat.py``);
- ``/v1/publishers/google/models/...`` (and ``/v1beta1/``): Vertex AI express mode
  (``vertex_express.py``);
- ``/openai/v1/...``: a plain OpenAI-compatible provider (``openai_provider.py``), not under
  ``/v1/`` because Gemini's native ``/v1/models`` is already there;
- ``/__fake/...``: the control API (``control_api.py``), never recorded.
"""

from __future__ import annotations

import json
import time
from http import HTTPStatus
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qsl

from . import control_api
from .behaviours import ERROR_MODES, KIND_OTHER
from .files import FilesStore
from .flavour import Flavour
from .gemini_native import NativeFlavour
from .openai_compat import CompatFlavour
from .openai_provider import ProviderFlavour
from .state import FakeState
from .vertex_express import VertexExpressFlavour
from .wire import (
    JSON_TYPE,
    AbortConnection,
    Call,
    Reply,
    count_credentials,
    dumps,
    find_key,
    read_body,
)

# (prefix, flavour name, native API version); longest prefixes first.
_MOUNTS = (
    ("/openai/v1/", "provider", ""),
    ("/v1/publishers/google/models/", "vertex", "v1"),
    ("/v1beta1/publishers/google/models/", "vertex", "v1beta1"),
    ("/v1beta/openai/", "compat", "v1beta"),
    ("/v1beta/", "native", "v1beta"),
    ("/v1/", "native", "v1"),
)
_STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        name[5:].replace("_", "-").lower(): value
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = environ[name]
    return headers


class FakeApp:
    """WSGI callable answering as Gemini (native and OpenAI layer) and an OpenAI provider."""

    def __init__(self, state: Optional[FakeState] = None) -> None:
        """Serve from ``state`` (a fresh one by default)."""
        self.state = state or FakeState()
        self._flavours: dict[str, Flavour] = {
            "native": NativeFlavour(self.state),
            "compat": CompatFlavour(self.state),
            "provider": ProviderFlavour(self.state),
            "vertex": VertexExpressFlavour(self.state),
        }

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Answer one request; raises ``AbortConnection`` to drop the connection."""
        path = environ.get("PATH_INFO") or "/"
        if path.startswith("/__fake/"):
            reply = control_api.handle(self.state, environ["REQUEST_METHOD"], path, environ)
        else:
            reply = self._api(environ, path)
        status = _STATUS_LINES.get(reply.status) or f"{reply.status} Status"
        if isinstance(reply.body, bytes):
            headers = reply.headers + [("Content-Length", str(len(reply.body)))]
            start_response(status, headers)
            return [reply.body]
        start_response(status, reply.headers)
        return reply.body

    def _api(self, environ: dict[str, Any], path: str) -> Reply:
        files = FilesStore.handles(path)
        for prefix, name, version in _MOUNTS:
            if files:
                prefix, name, version = "/", "native", "v1beta"
                break
            if path.startswith(prefix):
                break
        else:
            body = dumps({"error": {"code": 404, "message": f"No fake API at {path}"}})
            return Reply(404, body, [("Content-Type", JSON_TYPE)])
        flavour = self._flavours[name]
        headers = _headers(environ)
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        call = Call(
            method=environ["REQUEST_METHOD"],
            path=path,
            sub=path[len(prefix) :],
            version=version,
            query=query,
            headers=headers,
            raw=read_body(environ),
        )
        call.key, call.key_via = find_key(headers, query)
        call.credentials = count_credentials(headers, query)
        try:
            if files:
                reply = self._files(flavour, call, environ.get("HTTP_HOST", "127.0.0.1"))
            else:
                reply = self._answer(flavour, call)
        except AbortConnection:
            self._record(call, flavour, 0, "reset")
            raise
        self._record(call, flavour, reply.status, reply.mode)
        return reply

    def _answer(self, flavour: Flavour, call: Call) -> Reply:
        latency = self.state.config.latency
        if latency:
            time.sleep(latency)
        if not flavour.route(call):
            return flavour.path_not_found(call)
        refusal = flavour.auth_error(call)
        if refusal is not None:
            return refusal
        if call.method == "POST":
            try:
                call.body = json.loads(call.raw) if call.raw else {}
            except ValueError:
                return flavour.bad_json(call, "Unexpected token.")
            if not isinstance(call.body, dict):
                return flavour.bad_json(call, "Expected a JSON object.")
        flavour.classify(call)
        if flavour.name == "native":
            refusal = self.state.files.access_error(call)
            if refusal is not None:
                return refusal
        script = self.state.take(call.key, call.kind, call.model)
        if script.mode == "slow":
            time.sleep(script.seconds)
        elif script.mode == "reset":
            raise AbortConnection()
        if script.mode in ERROR_MODES:
            if script.delay:
                time.sleep(script.delay)  # a failure that comes late, as after long thinking
            return flavour.mode_error(call, script)
        reply = flavour.answer(call, script)
        reply.mode = script.mode
        return reply

    def _files(self, flavour: Flavour, call: Call, host: str) -> Reply:
        """The Files API and cached contents; an upload's chunks carry no key."""
        chunk = "upload_id" in call.query
        if not chunk:
            refusal = flavour.auth_error(call)
            if refusal is not None:
                return refusal
            if call.method in ("POST", "PATCH"):
                try:
                    call.body = json.loads(call.raw) if call.raw else {}
                except ValueError:
                    return flavour.bad_json(call, "Unexpected token.")
                if not isinstance(call.body, dict):
                    return flavour.bad_json(call, "Expected a JSON object.")
            script = self.state.take(call.key, KIND_OTHER, None)
            if script.mode in ERROR_MODES:
                return flavour.mode_error(call, script)
        return self.state.files.handle(call, host)

    def _record(self, call: Call, flavour: Flavour, status: int, mode: str) -> None:
        self.state.record(
            {
                "time": time.time(),
                "method": call.method,
                "path": call.path,
                "query": call.query,
                "headers": call.headers,
                "key": call.key,
                "body": call.body if call.raw else None,
                "flavour": flavour.name,
                "action": call.action,
                "model": call.model,
                "status": status,
                "mode": mode,
            }
        )
