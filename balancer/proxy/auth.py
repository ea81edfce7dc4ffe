"""Client authentication: which client token, if any, a request carries."""
from __future__ import annotations

from typing import Optional, Union

from flask import Request, Response

from balancer.proxy.errors import google_error, openai_error
from balancer.runtime import Catalog, ClientInfo

ANONYMOUS = ClientInfo(None, "anonymous")


def bearer_token(request: Request) -> Optional[str]:
    """The token of an ``Authorization: Bearer`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate_openai(request: Request, catalog: Catalog) -> Union[ClientInfo, Response]:
    """The client, or a 401 in OpenAI's shape when tokens are required and none matches."""
    if not catalog.auth_required:
        return ANONYMOUS
    token = bearer_token(request)
    if token is None:
        return openai_error(401, "Missing client token: send it as 'Authorization: Bearer <token>'.",
                            code="missing_api_key")
    client = catalog.client_for(token)
    if client is None:
        return openai_error(401, "Invalid client token.", code="invalid_api_key")
    return client


def gemini_token(request: Request) -> Optional[str]:
    """A token sent the Gemini way (``x-goog-api-key`` or ``?key=``), or None."""
    token = request.headers.get("x-goog-api-key") or request.args.get("key")
    return token.strip() if token and token.strip() else None


def authenticate_gemini(request: Request, catalog: Catalog) -> Union[ClientInfo, Response]:
    """The client of a Gemini-format request (key, header or Bearer), or a 401 in Google's shape."""
    if not catalog.auth_required:
        return ANONYMOUS
    token = gemini_token(request) or bearer_token(request)
    if token is None:
        return google_error(401, "Missing client token: send it as 'x-goog-api-key', "
                                 "'?key=' or 'Authorization: Bearer'.")
    client = catalog.client_for(token)
    if client is None:
        return google_error(401, "Invalid client token.")
    return client
