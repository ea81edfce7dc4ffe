"""Image hosts a pool may upload generated images to: SM.MS, a PicGo server, a CloudFlare
ImgBed-style site. Each adapter sends one image and returns its public URL.

The request and answer shapes are described in ``docs/image-hosts.md``. The token is
only ever sent (a header, or ImgBed's ``authCode`` query parameter); nothing raised here
carries it, nor a URL that might: ``UploadFailed`` says what went wrong in words of its
own, so a caller may log it as it is.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import requests

#: host kind -> the base URL used when none is set (ImgBed sites have no common one).
DEFAULT_BASE = {"smms": "https://sm.ms/api/v2", "picgo": "http://127.0.0.1:36677", "imgbed": ""}
KINDS = tuple(DEFAULT_BASE)
#: longest wait for one upload, seconds (connect, read); the caller bounds the whole answer.
UPLOAD_TIMEOUT = 20.0
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


class UploadFailed(Exception):
    """An upload gave no URL; the message names the cause, never the token."""


@dataclass(frozen=True)
class ImageHost:
    """Where a pool's generated images go. ``token`` is the plain secret, held in memory
    only (the database holds it encrypted); ``repr`` leaves it out."""

    kind: str
    base_url: str
    token: str = field(default="", repr=False)

    @property
    def endpoint(self) -> str:
        """The base URL in force: the one set, else the kind's default."""
        return (self.base_url or DEFAULT_BASE.get(self.kind, "")).rstrip("/")


def upload(host: ImageHost, data: bytes, mime: str, timeout: float = UPLOAD_TIMEOUT) -> str:
    """Send ``data`` (an image of type ``mime``) to ``host``; its public URL.

    :raises UploadFailed: the host refused, failed or answered in an unknown shape.
    """
    adapter = _ADAPTERS.get(host.kind)
    if adapter is None:
        raise UploadFailed(f"unknown image host kind {host.kind!r}")
    if not host.endpoint:
        raise UploadFailed(f"{host.kind}: no base URL set")
    name = f"image.{_EXTENSIONS.get(mime, 'png')}"
    try:
        return adapter(host, (name, data, mime), timeout)
    except requests.Timeout:
        raise UploadFailed(f"{host.kind}: no answer within {timeout:.0f} s") from None
    except requests.RequestException as exc:
        # The library's own text may hold the URL (ImgBed's carries the token): the class only.
        raise UploadFailed(f"{host.kind}: {type(exc).__name__} reaching the host") from None


def upload_b64(host: ImageHost, b64: str, mime: str, timeout: float = UPLOAD_TIMEOUT) -> str:
    """``upload`` for base64 text, as answers carry images."""
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise UploadFailed("the image is not valid base64") from None
    return upload(host, data, mime, timeout)


def _smms(host: ImageHost, file: tuple, timeout: float) -> str:
    resp = requests.post(f"{host.endpoint}/upload", files={"smfile": file},
                         data={"format": "json"}, headers={"Authorization": host.token},
                         timeout=timeout)
    doc = _json(resp, "smms")
    if isinstance(doc, dict) and doc.get("success") and isinstance(doc.get("data"), dict):
        return _url(doc["data"].get("url"), "smms")
    if isinstance(doc, dict) and doc.get("code") == "image_repeated":
        # The same bytes were sent before: SM.MS names the existing image instead.
        return _url(doc.get("images"), "smms")
    message = doc.get("message") if isinstance(doc, dict) else None
    raise UploadFailed(f"smms refused the upload ({_short(message or resp.status_code)})")


def _picgo(host: ImageHost, file: tuple, timeout: float) -> str:
    headers = {"Authorization": f"Bearer {host.token}"} if host.token else {}
    resp = requests.post(f"{host.endpoint}/upload", files={"files": file}, headers=headers,
                         timeout=timeout)
    doc = _json(resp, "picgo")
    result = doc.get("result") if isinstance(doc, dict) else None
    if isinstance(doc, dict) and doc.get("success") and isinstance(result, list) and result:
        return _url(result[0], "picgo")
    message = doc.get("message") if isinstance(doc, dict) else None
    raise UploadFailed(f"picgo refused the upload ({_short(message or resp.status_code)})")


def _imgbed(host: ImageHost, file: tuple, timeout: float) -> str:
    params = {"authCode": host.token} if host.token else {}
    resp = requests.post(f"{host.endpoint}/upload", params=params, files={"file": file},
                         timeout=timeout)
    doc = _json(resp, "imgbed")
    src = doc[0].get("src") if isinstance(doc, list) and doc and isinstance(doc[0], dict) else None
    if not isinstance(src, str) or not src:
        message = doc.get("error") or doc.get("message") if isinstance(doc, dict) else None
        raise UploadFailed(f"imgbed refused the upload ({_short(message or resp.status_code)})")
    if src.startswith(("http://", "https://")):
        return src  # returnFormat=full, or a site that always answers whole URLs
    # ``src`` is a path on the site: the URL is the site's origin plus that path.
    parts = urlsplit(host.endpoint)
    return _url(f"{parts.scheme}://{parts.netloc}/{src.lstrip('/')}", "imgbed")


def _json(resp: Any, kind: str) -> Any:
    if resp.status_code >= 400 and not resp.content.lstrip().startswith((b"{", b"[")):
        raise UploadFailed(f"{kind} answered HTTP {resp.status_code}")
    try:
        return resp.json()
    except ValueError:
        raise UploadFailed(f"{kind} answered HTTP {resp.status_code} with no JSON") from None


def _url(value: Any, kind: str) -> str:
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value
    raise UploadFailed(f"{kind} answered without an image URL")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


_ADAPTERS: dict[str, Callable[[ImageHost, tuple, float], str]] = {
    "smms": _smms, "picgo": _picgo, "imgbed": _imgbed}


def parse_spec(spec: Optional[str]) -> Optional[tuple[str, str]]:
    """(kind, base URL) of a ``KIND`` or ``KIND=BASE_URL`` spec; None for ``off`` or ''.

    :raises ValueError: naming the kinds there are.
    """
    spec = (spec or "").strip()
    if spec.lower() in ("", "off", "none"):
        return None
    kind, _, base = spec.partition("=")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise ValueError(f"image host {kind!r}: expected one of {', '.join(KINDS)} or off")
    return kind, base.strip()
