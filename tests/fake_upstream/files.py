"""Gemini's Files API and cached contents, each resource owned by one key's project.

- ``POST /upload/v1beta/files`` with ``X-Goog-Upload-Protocol: resumable`` and
  ``X-Goog-Upload-Command: start`` opens an upload and answers its URL in
  ``X-Goog-Upload-URL``; chunks go there (``upload``, then ``upload, finalize``)
  with ``X-Goog-Upload-Offset``, and the last answers ``{"file": {...}}``.
- ``GET/DELETE /v1beta/files/{id}``, ``GET /v1beta/files``.
- ``POST/GET /v1beta/cachedContents``, ``GET/PATCH/DELETE /v1beta/cachedContents/{id}``.

A key of another project gets the 403 Google gives: "You do not have
permission to access the File ... or it may not exist." ``access_error`` says
the same for a generate call that names such a file or cache.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Optional

from . import google_errors as gerr
from .wire import GOOGLE_HEADERS, JSON_TYPE, Call, Reply, dumps_google

FILE_LIFETIME = timedelta(hours=48)
CACHE_TTL = 3600.0
CHUNK_GRANULARITY = 8 * 1024 * 1024


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _project(key: str) -> str:
    return gerr.project_number(key)


@dataclass
class _Upload:
    project: str
    display_name: Optional[str]
    mime_type: str
    size: int
    data: bytearray = field(default_factory=bytearray)


class FilesStore:
    """Uploads in progress, files and cached contents, per project."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.uploads: dict[str, _Upload] = {}
        #: name -> (project, resource)
        self.files: dict[str, tuple[str, dict[str, Any]]] = {}
        self.caches: dict[str, tuple[str, dict[str, Any]]] = {}

    def reset(self) -> None:
        with self._lock:
            self.uploads.clear()
            self.files.clear()
            self.caches.clear()

    # -- routing ------------------------------------------------------------------------

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(("/upload/v1beta/files", "/v1beta/files", "/v1beta/cachedContents"))

    def handle(self, call: Call, host: str) -> Reply:
        path = call.path
        if path.startswith("/upload/"):
            if "upload_id" in call.query:
                return self._chunk(call)
            return self._start(call, host)
        if call.key is None:
            return _error(gerr.unregistered_caller())
        project = _project(call.key)
        kind, _, rest = path[len("/v1beta/"):].partition("/")
        store = self.files if kind == "files" else self.caches
        if not rest:
            if call.method == "GET":
                return self._list(store, kind, project)
            if call.method == "POST" and kind == "cachedContents":
                return self._create_cache(call, project)
            return _error(gerr.path_not_found(path))
        name = f"{kind}/{rest}"
        with self._lock:
            owned = store.get(name)
        if owned is None or owned[0] != project:
            return _error(_denied(name))
        if call.method == "GET":
            return _ok(owned[1])
        if call.method == "DELETE":
            with self._lock:
                store.pop(name, None)
            return _ok({})
        if call.method == "PATCH" and kind == "cachedContents":
            ttl = _ttl(call.body or {})
            resource = dict(owned[1])
            resource["expireTime"] = _rfc3339(_now() + timedelta(seconds=ttl))
            resource["updateTime"] = _rfc3339(_now())
            with self._lock:
                store[name] = (project, resource)
            return _ok(resource)
        return _error(gerr.path_not_found(path))

    def access_error(self, call: Call) -> Optional[Reply]:
        """A 403 when a generate call names a file or cache of another project."""
        if call.key is None or not isinstance(call.body, dict):
            return None
        project = _project(call.key)
        for name in references(call.body):
            store = self.files if name.startswith("files/") else self.caches
            with self._lock:
                owned = store.get(name)
            if owned is None or owned[0] != project:
                return _error(_denied(name))
        return None

    # -- uploads ------------------------------------------------------------------------

    def _start(self, call: Call, host: str) -> Reply:
        if call.key is None:
            return _error(gerr.unregistered_caller())
        headers = call.headers
        if headers.get("x-goog-upload-protocol", "").lower() != "resumable" or \
                headers.get("x-goog-upload-command", "").lower() != "start":
            return _error(gerr.invalid_argument("Expected a resumable upload start."))
        size = headers.get("x-goog-upload-header-content-length", "")
        if not size.isdigit():
            return _error(gerr.invalid_argument("Missing X-Goog-Upload-Header-Content-Length."))
        meta = (call.body or {}).get("file") or {}
        upload_id = "ABgVH" + secrets.token_urlsafe(24)
        with self._lock:
            self.uploads[upload_id] = _Upload(
                project=_project(call.key),
                display_name=meta.get("displayName") or meta.get("display_name"),
                mime_type=headers.get("x-goog-upload-header-content-type")
                or meta.get("mimeType") or "application/octet-stream",
                size=int(size))
        url = f"http://{host}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
        return Reply(200, b"", [("X-Goog-Upload-URL", url), ("X-Goog-Upload-Status", "active"),
                                ("X-Goog-Upload-Chunk-Granularity", str(CHUNK_GRANULARITY)),
                                ("Content-Type", "text/plain; charset=utf-8"), *GOOGLE_HEADERS])

    def _chunk(self, call: Call) -> Reply:
        upload_id = call.query["upload_id"]
        with self._lock:
            upload = self.uploads.get(upload_id)
        if upload is None:
            return _error(gerr.envelope(404, "NOT_FOUND", "Upload not found."))
        command = {part.strip() for part in call.headers.get("x-goog-upload-command", "").split(",")}
        offset = call.headers.get("x-goog-upload-offset", "")
        if "upload" not in command or not offset.isdigit() or int(offset) != len(upload.data):
            return _error(gerr.invalid_argument("Bad upload offset or command."))
        upload.data += call.raw
        if "finalize" not in command:
            return Reply(200, b"", [("X-Goog-Upload-Status", "active"), *GOOGLE_HEADERS])
        with self._lock:
            self.uploads.pop(upload_id, None)
            name = "files/" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                      for _ in range(12))
            now = _now()
            resource = {
                "name": name,
                **({"displayName": upload.display_name} if upload.display_name else {}),
                "mimeType": upload.mime_type,
                "sizeBytes": str(len(upload.data)),
                "createTime": _rfc3339(now),
                "updateTime": _rfc3339(now),
                "expirationTime": _rfc3339(now + FILE_LIFETIME),
                "sha256Hash": _b64_sha256(bytes(upload.data)),
                "uri": f"https://generativelanguage.googleapis.com/v1beta/{name}",
                "state": "ACTIVE",
                "source": "UPLOADED",
            }
            self.files[name] = (upload.project, resource)
        return Reply(200, dumps_google({"file": resource}),
                     [("Content-Type", JSON_TYPE), ("X-Goog-Upload-Status", "final"),
                      *GOOGLE_HEADERS])

    # -- caches and lists ---------------------------------------------------------------

    def _create_cache(self, call: Call, project: str) -> Reply:
        body = call.body or {}
        model = body.get("model")
        if not isinstance(model, str) or not model.startswith("models/"):
            return _error(gerr.invalid_argument("model must be models/{model}."))
        for name in references(body):
            with self._lock:
                owned = self.files.get(name)
            if owned is None or owned[0] != project:
                return _error(_denied(name))
        now = _now()
        name = "cachedContents/" + secrets.token_hex(8)
        resource = {"name": name, "model": model,
                    **({"displayName": body["displayName"]} if body.get("displayName") else {}),
                    "createTime": _rfc3339(now), "updateTime": _rfc3339(now),
                    "expireTime": _rfc3339(now + timedelta(seconds=_ttl(body))),
                    "usageMetadata": {"totalTokenCount": 4096}}
        with self._lock:
            self.caches[name] = (project, resource)
        return _ok(resource)

    def _list(self, store: dict, kind: str, project: str) -> Reply:
        with self._lock:
            mine = [resource for owner, resource in store.values() if owner == project]
        return _ok({kind: mine} if mine else {})


def references(body: Any) -> Iterable[str]:
    """Names of the files (``fileData.fileUri``) and cache a request body uses."""
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("fileUri", "file_uri") and isinstance(value, str) and "files/" in value:
                    yield "files/" + value.rsplit("files/", 1)[1].split("?")[0]
                elif key in ("cachedContent", "cached_content") and isinstance(value, str):
                    yield value
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def _ttl(body: dict) -> float:
    ttl = body.get("ttl")
    if isinstance(ttl, str) and ttl.endswith("s"):
        try:
            return float(ttl[:-1])
        except ValueError:
            pass
    return CACHE_TTL


def _denied(name: str) -> gerr.Envelope:
    kind, _, ident = name.partition("/")
    what = "File" if kind == "files" else "CachedContent"
    return gerr.envelope(403, "PERMISSION_DENIED",
                         f"You do not have permission to access the {what} {ident} "
                         "or it may not exist.")


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()


def _ok(obj: Any) -> Reply:
    return Reply(200, dumps_google(obj), [("Content-Type", JSON_TYPE), *GOOGLE_HEADERS])


def _error(env: gerr.Envelope) -> Reply:
    code, body = env
    return Reply(code, dumps_google(body), [("Content-Type", JSON_TYPE), *GOOGLE_HEADERS])


__all__ = ["FilesStore", "references"]
