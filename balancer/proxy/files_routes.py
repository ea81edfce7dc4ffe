"""Gemini's Files API: resumable uploads, list, get, delete; each file kept to its key.

An upload starts at ``POST /upload/v1beta/files`` (``X-Goog-Upload-Command:
start``) on a key the rotation picks. The upstream answers the URL the bytes
go to; the client gets Balancer's own URL instead, whose ``upload_id`` is a
signed token naming the key and the upstream's upload. The SDK sends the
chunks there without its API key (an upload URL is its own credential), so
the signature is what lets them through. It names the client token that
started the upload too: each chunk is that token's request (its limits, its
log line), and once the token is revoked or disabled the URL answers 404.
The final chunk's answer names the file, and the key and client that made it
are recorded (``services/owners.py``): later calls that use the file are served
by that key, and only that client may see or use it.
"""
from __future__ import annotations

import re
from typing import Optional
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from balancer.proxy.affinity import FILE_NAME, not_found, pool_of_pin
from balancer.proxy.auth import ANONYMOUS, anonymous_allowed
from balancer.proxy.body import read_body
from balancer.proxy.errors import google_error
from balancer.proxy.call import Answer, Pin, ProxyCall
from balancer.proxy.endings import reject
from balancer.proxy.forward import forward
from balancer.proxy.gemini_routes import prepare
from balancer.proxy.validate import BadRequest, json_object
from balancer.runtime import ANONYMOUS_OWNER, ClientInfo, Runtime
from balancer.services import owners
from balancer.text import quoted

bp = Blueprint("gemini_files", __name__)
upload_bp = Blueprint("gemini_upload", __name__)

#: Files and caches exist in v1beta only, whatever version the client called.
API_VERSION = "v1beta"
#: Google keeps an unfinished resumable upload for about a week; Balancer's
#: token for it lasts as long as the file itself would.
UPLOAD_TOKEN_MAX_AGE = 48 * 3600
_COMMAND = re.compile(r"(?:upload|finalize|query|cancel)(?:\s*,\s*(?:upload|finalize|query|cancel))*",
                      re.IGNORECASE)
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}")
_UPLOAD_HEADERS = ("X-Goog-Upload-Status", "X-Goog-Upload-Size-Received",
                   "X-Goog-Upload-Chunk-Granularity")


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="balancer-upload")


def _bad(rt: Runtime, route: str, exc: BadRequest, client: Optional[ClientInfo] = None) -> Response:
    return reject(rt, route, google_error(exc.status, str(exc), retry_after=exc.retry_after),
                  client, api_format="gemini")


def file_name(file_id: str) -> str:
    """``files/{id}`` from a path segment, or BadRequest."""
    name = f"files/{file_id}"
    if not FILE_NAME.fullmatch(name):
        raise BadRequest(f"Invalid file name {quoted(name, 60)}: expected files/ followed by "
                         "lower-case letters, digits and dashes.")
    return name


def page_args(default: int = 10, maximum: int = 100) -> tuple[int, Optional[int]]:
    """``pageSize`` and ``pageToken`` of a list call (the token is Balancer's own)."""
    size = request.args.get("pageSize", str(default))
    if not size.isdigit() or not 1 <= int(size) <= maximum:
        raise BadRequest(f"'pageSize' must be a whole number from 1 to {maximum}.")
    token = request.args.get("pageToken")
    if token and not token.isdigit():
        raise BadRequest("'pageToken' is not a page token from a previous answer.")
    return int(size), int(token) if token else None


def listing(route: str, kind: str) -> Response:
    """The live files or caches the caller created through Balancer, newest first."""
    prepared = prepare(route)
    if isinstance(prepared, Response):
        return prepared
    rt, client, _pool = prepared
    try:
        size, after = page_args()
    except BadRequest as exc:
        return _bad(rt, route, exc, client)
    items, next_after = owners.listed(kind, client, size, after)
    body: dict = {kind: items} if items else {}
    if next_after is not None:
        body["nextPageToken"] = str(next_after)
    # Served from Balancer's own records, like the OpenAI model list: the
    # upstream is per project, and one list should show every key's files.
    return jsonify(body)


def pinned_call(route: str, method: str, name: str, body: Optional[bytes] = None,
                query: Optional[dict] = None) -> Response:
    """A call on one file or cache, served by the key that created it; the owner record
    follows the answer (forgotten on a delete, redescribed otherwise)."""
    prepared = prepare(route)
    if isinstance(prepared, Response):
        return prepared
    rt, client, _pool = prepared
    owner = rt.owners.owner(name)
    try:
        if owner is None or not owner.open_to(client):
            raise not_found(name)  # another client's: as if it did not exist
        pin = Pin(owner.key_id, name)
        pool = pool_of_pin(rt, pin)
    except BadRequest as exc:
        return _bad(rt, route, exc, client)

    def keep_record(answer: Answer) -> None:
        if method == "DELETE":
            rt.owners.forget(name)
        elif isinstance(answer.parsed, dict) and answer.parsed.get("name") == name:
            rt.owners.update(name, answer.parsed)

    call = ProxyCall(route=route, method=method, path=name, model=None, body=body, client=client,
                     api_format="gemini", api_version=API_VERSION, pin=pin,
                     on_answer=keep_record, query=query or {}, empty_ok=True)
    return forward(rt, pool, call)


# --- uploads ------------------------------------------------------------------------


@upload_bp.post("/files")
def upload():
    """Start a resumable upload, or take one of its chunks (``?upload_id=``)."""
    if "upload_id" in request.args:
        return _chunk(request.args["upload_id"])
    route = "gemini.files.upload"
    prepared = prepare(route)
    if isinstance(prepared, Response):
        return prepared
    rt, client, pool = prepared
    try:
        headers = _start_headers()
        raw = read_body(rt.body_slots, client)
        if raw:
            json_object(raw)
    except BadRequest as exc:
        return _bad(rt, route, exc, client)

    def hand_out_url(answer: Answer) -> None:
        upstream = answer.upstream_headers.get("X-Goog-Upload-URL")
        if upstream:
            parts = urlsplit(upstream)
            token = _signer().dumps({"k": answer.key_id, "u": f"{parts.path}?{parts.query}",
                                     "o": client.owner})
            answer.headers["X-Goog-Upload-URL"] = (
                f"{request.base_url}?upload_id={token}&upload_protocol=resumable")
        _copy_upload_headers(answer)

    call = ProxyCall(route=route, method="POST", path="files", model=None, body=raw or None,
                     client=client, api_format="gemini", api_version=f"upload/{API_VERSION}",
                     headers=headers, empty_ok=True, on_answer=hand_out_url)
    return forward(rt, pool, call)


def _start_headers() -> dict:
    """The resumable protocol's headers, checked; anything else is refused."""
    h = request.headers
    if h.get("X-Goog-Upload-Protocol", "").lower() != "resumable":
        raise BadRequest("Balancer takes resumable uploads: send 'X-Goog-Upload-Protocol: "
                         "resumable' and 'X-Goog-Upload-Command: start'.")
    if h.get("X-Goog-Upload-Command", "").strip().lower() != "start":
        raise BadRequest("An upload starts with 'X-Goog-Upload-Command: start'.")
    size = h.get("X-Goog-Upload-Header-Content-Length", "").strip()
    if not size.isdigit() or len(size) > 12:
        raise BadRequest("'X-Goog-Upload-Header-Content-Length' must be the file's size in bytes.")
    out = {"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
           "X-Goog-Upload-Header-Content-Length": size}
    mime = h.get("X-Goog-Upload-Header-Content-Type", "").strip()
    if mime:
        if not _MIME.fullmatch(mime):
            raise BadRequest("'X-Goog-Upload-Header-Content-Type' is not a MIME type.")
        out["X-Goog-Upload-Header-Content-Type"] = mime
    return out


def _chunk(token: str) -> Response:
    """Bytes of an upload, relayed to the upstream's upload URL by the key that opened it."""
    rt: Runtime = current_app.extensions["balancer"]
    route = "gemini.files.upload"
    try:
        data = _signer().loads(token, max_age=UPLOAD_TOKEN_MAX_AGE)
        key_id, upstream_path = int(data["k"]), str(data["u"])
        client = _uploader(rt, str(data["o"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        client = None
    if client is None:
        return reject(rt, route, google_error(
            404, "Unknown or expired upload: start the upload again."), api_format="gemini")
    try:
        command = request.headers.get("X-Goog-Upload-Command", "").strip()
        if not _COMMAND.fullmatch(command):
            raise BadRequest("'X-Goog-Upload-Command' must be upload, finalize, query or cancel.")
        offset = request.headers.get("X-Goog-Upload-Offset", "0").strip()
        if not offset.isdigit() or len(offset) > 12:
            raise BadRequest("'X-Goog-Upload-Offset' must be a byte offset.")
        pin = Pin(key_id, "this upload")
        pool = pool_of_pin(rt, pin)
        # Uploads have a limit of their own, larger than MAX_REQUEST_MB (MAX_UPLOAD_MB).
        body = read_body(rt.body_slots, client, rt.config.MAX_UPLOAD_BYTES)
    except BadRequest as exc:
        return _bad(rt, route, exc, client)

    def note_file(answer: Answer) -> None:
        _copy_upload_headers(answer)
        resource = answer.parsed.get("file") if isinstance(answer.parsed, dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("name"), str) \
                and FILE_NAME.fullmatch(resource["name"]):
            rt.owners.record(resource["name"], answer.key_id, resource, client)

    call = ProxyCall(route=route, method="POST", path=upstream_path.lstrip("/"), model=None,
                     body=body, client=client, api_format="gemini",
                     api_version="", pin=pin, empty_ok=True, on_answer=note_file,
                     headers={"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": offset,
                              "Content-Type": request.content_type or "application/octet-stream"})
    return forward(rt, pool, call)


def _uploader(rt: Runtime, owner: str) -> Optional[ClientInfo]:
    """The client that started an upload, as the catalog knows it now (with its
    limits); None once its token is revoked or disabled. An upload started without a
    token goes on only as long as such a caller would still be served."""
    if owner == ANONYMOUS_OWNER:
        return ANONYMOUS if anonymous_allowed(request, rt) else None
    return rt.catalog.client_owning(owner)


def _copy_upload_headers(answer: Answer) -> None:
    for name in _UPLOAD_HEADERS:
        value = answer.upstream_headers.get(name)
        if value:
            answer.headers[name] = value


# --- files --------------------------------------------------------------------------


@bp.get("/files")
def list_files():
    """The files uploaded through Balancer that have not expired."""
    return listing("gemini.files.list", "files")


def _one_file(route: str, method: str, file_id: str) -> Response:
    try:
        name = file_name(file_id)
    except BadRequest as exc:
        return _bad(current_app.extensions["balancer"], route, exc)
    return pinned_call(route, method, name)


@bp.get("/files/<file_id>")
def get_file(file_id: str):
    """One file's metadata, from the key that uploaded it."""
    return _one_file("gemini.files.get", "GET", file_id)


@bp.delete("/files/<file_id>")
def delete_file(file_id: str):
    """Delete a file with the key that uploaded it."""
    return _one_file("gemini.files.delete", "DELETE", file_id)
