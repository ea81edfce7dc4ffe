"""Gemini-format routes: generateContent, streams, countTokens, embeddings, models.

Mounted under /v1beta, /gemini/v1beta and /v1 (google-genai 3.x calls /v1).
The client's token (``?key=``, ``x-goog-api-key`` or Bearer) is checked and
never sent upstream; the upstream key goes in ``x-goog-api-key``.
"""
from __future__ import annotations

import json
import re
from typing import Optional, Union

from flask import Blueprint, Response, current_app, jsonify, request

from balancer.proxy import affinity, shapes, suffixes
from balancer.proxy.auth import authenticate_gemini
from balancer.proxy.body import read_body
from balancer.proxy.errors import google_error
from balancer.proxy.call import Answer, ProxyCall
from balancer.proxy.endings import answered_here, reject
from balancer.proxy.forward import forward
from balancer.proxy.routing import route_model
from balancer.proxy.validate import BadRequest, check_model, json_object
from balancer.runtime import ClientInfo, PoolInfo, Runtime
from balancer.text import quoted
from balancer.upstream import vertex
from balancer.upstream.providers import speaks_gemini

bp = Blueprint("gemini", __name__)

#: Actions on a model, and whether they stream.
ACTIONS = {"generateContent": False, "streamGenerateContent": True, "countTokens": False,
           "embedContent": False, "batchEmbedContents": False}
_PAGE_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-=.]{1,512}")


def _gemini_model(name: str) -> str:
    """A Gemini model id from a path (``models/`` optional); no slashes inside."""
    model = check_model(name.removeprefix("models/"), "model")
    if "/" in model:
        raise BadRequest("Invalid model name.", "model")
    return model


def _api_version() -> str:
    return "v1" if request.path.startswith("/v1/") else "v1beta"


def prepare(route: str, stream: bool = False) -> Union[tuple[Runtime, ClientInfo, PoolInfo], Response]:
    rt: Runtime = current_app.extensions["balancer"]
    client = authenticate_gemini(request, rt)
    if isinstance(client, Response):
        return client  # counted in /metrics, not logged one row each
    pool = rt.catalog.default_pool()
    problem = None
    if pool is None or not rt.loaded:
        problem = google_error(503, "Balancer is starting: no key pool is loaded yet.", retry_after=2)
    elif not pool.enabled:
        problem = google_error(503, f"Pool '{pool.name}' is switched off.")
    elif not speaks_gemini(pool.kind):
        problem = google_error(400, f"Pool '{pool.name}' serves the OpenAI API only; "
                                    "use /v1/chat/completions.")
    if problem is not None:
        return reject(rt, route, problem, client, stream=stream, api_format="gemini")
    return rt, client, pool


@bp.post("/models/<path:target>")
def model_action(target: str):
    """``models/{model}:{action}``: generate, stream, count tokens, embed."""
    model, _, action = target.rpartition(":")
    stream = ACTIONS.get(action, False)
    route = f"gemini.{action}" if action in ACTIONS else "gemini.unknown"
    prepared = prepare(route, stream)
    if isinstance(prepared, Response):
        return prepared
    rt, client, pool = prepared
    try:
        if action not in ACTIONS:
            raise BadRequest(f"Unknown method {quoted(action or target)}; expected one of "
                             f"{', '.join(ACTIONS)}.", status=404)
        requested = check_model(model.removeprefix("models/"), "model")
        base, suffix = suffixes.split_unlisted(requested, rt.settings.current, rt.catalog)
        if action not in ("generateContent", "streamGenerateContent"):
            base, suffix = requested, None
        chosen = route_model(rt.catalog, base, "gemini")
        model = _gemini_model(chosen.model)
        raw = read_body(rt.body_slots, client)
        body = json_object(raw)
        shapes.gemini_action(action, body)
        # A file or cache the request uses decides the key, and so the pool.
        pin = affinity.pin_for(rt, raw, body, client)
        pool = affinity.pool_of_pin(rt, pin) if pin is not None else chosen.pool
        changed = suffix is not None
        suffixes.apply_native(body, suffix)
        if action in ("generateContent", "streamGenerateContent"):
            changed = pool.defaults.apply_native(body, model) or changed
        if changed:
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        alt = request.args.get("alt")
        if alt not in (None, "sse", "json"):
            raise BadRequest("'alt' must be 'sse' or 'json'.")
    except BadRequest as exc:
        return reject(rt, route, google_error(exc.status, str(exc), retry_after=exc.retry_after),
                      client, stream=stream, api_format="gemini")
    framing = "sse" if alt == "sse" else "array"
    call = ProxyCall(route=route, method="POST", path=f"models/{model}:{action}", model=model,
                     body=raw, stream=stream, client=client, api_format="gemini",
                     api_version=_api_version(), framing=framing,
                     query={"alt": "sse"} if stream and framing == "sse" else {}, pin=pin)
    return forward(rt, pool, call)


@bp.get("/models")
def list_models():
    """The default pool's models, in Gemini's shape, paginated as upstream does."""
    prepared = prepare("gemini.models")
    if isinstance(prepared, Response):
        return prepared
    rt, client, pool = prepared
    if pool.kind == vertex.KIND:
        return _listed_here(rt, "gemini.models", client, pool, pool.models)
    query = {}
    try:
        size = request.args.get("pageSize")
        if size is not None:
            if not size.isdigit() or not 1 <= int(size) <= 1000:
                raise BadRequest("'pageSize' must be a whole number from 1 to 1000.")
            query["pageSize"] = size
        token = request.args.get("pageToken")
        if token:
            if not _PAGE_TOKEN_RE.fullmatch(token):
                raise BadRequest("'pageToken' is not a page token.")
            query["pageToken"] = token
    except BadRequest as exc:
        return reject(rt, "gemini.models", google_error(exc.status, str(exc)), client,
                      api_format="gemini")
    active = suffixes.active(rt.settings.current)
    call = ProxyCall(route="gemini.models", method="GET", path="models", model=None, body=None,
                     client=client, api_format="gemini", api_version=_api_version(), query=query,
                     on_answer=(lambda answer: _with_variants(answer, active)) if active else None)
    return forward(rt, pool, call)


def _with_variants(answer: Answer, active: list[str]) -> Optional[bytes]:
    """The upstream's list with each switched-on suffix's variants after their model,
    so a client that picks from the list finds them."""
    parsed = answer.parsed
    if not isinstance(parsed, dict) or not isinstance(parsed.get("models"), list):
        return None
    listed = []
    for entry in parsed["models"]:
        listed.append(entry)
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        methods = entry.get("supportedGenerationMethods") or ()
        if "generateContent" not in methods:
            continue
        for suffix in suffixes.variants(entry["name"].removeprefix("models/"), active):
            listed.append({**entry, "name": f"{entry['name']}{suffix}",
                           "displayName": f"{entry.get('displayName') or entry['name']} ({suffix[1:]})"})
    return json.dumps({**parsed, "models": listed}, ensure_ascii=False).encode()


@bp.get("/models/<path:name>")
def get_model(name: str):
    """One model, in Gemini's shape."""
    prepared = prepare("gemini.models.get")
    if isinstance(prepared, Response):
        return prepared
    rt, client, pool = prepared
    try:
        chosen = route_model(rt.catalog, check_model(name.removeprefix("models/"), "model"),
                             "gemini")
        pool = chosen.pool
        model = _gemini_model(chosen.model)
    except BadRequest as exc:
        return reject(rt, "gemini.models.get", google_error(exc.status, str(exc)), client,
                      api_format="gemini")
    if pool.kind == vertex.KIND:
        if model not in pool.models:
            return reject(rt, "gemini.models.get", google_error(
                404, f"Model {quoted(model)} is not served by pool '{pool.name}'."), client,
                api_format="gemini")
        return _listed_here(rt, "gemini.models.get", client, pool, (model,), one=True)
    call = ProxyCall(route="gemini.models.get", method="GET", path=f"models/{model}", model=None,
                     body=None, client=client, api_format="gemini", api_version=_api_version())
    return forward(rt, pool, call)


def _listed_here(rt: Runtime, route: str, client: ClientInfo, pool: PoolInfo,
                 models: tuple[str, ...], one: bool = False) -> Response:
    """Models of a pool whose upstream has no list call (Vertex AI express mode),
    answered from its configured models in Gemini's shape."""
    entries = [{"name": f"models/{m}", "displayName": m,
                "supportedGenerationMethods": sorted(vertex.METHODS)} for m in models]
    out = jsonify(entries[0]) if one else jsonify(models=entries)
    return answered_here(rt, route, out, client, api_format="gemini", pool_id=pool.id, model=None)
