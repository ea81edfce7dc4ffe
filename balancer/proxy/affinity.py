"""Key affinity: a call that uses a file or cached content goes to the key that made it.

The names come from the request body (``fileData.fileUri``, ``cachedContent``);
their owners from ``services/owners.py``, all of a request's names in one
lookup. A name Balancer did not create (a public file, one uploaded elsewhere)
pins nothing: the upstream decides. A name another client token created is
answered as one that does not exist (404), so names cannot be probed.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Optional

from balancer.proxy.call import Pin
from balancer.proxy.validate import BadRequest
from balancer.runtime import ClientInfo, PoolInfo, Runtime
from balancer.text import quoted

#: Gemini's resource ids: lower-case letters, digits and dashes.
FILE_NAME = re.compile(r"files/[a-z0-9][a-z0-9-]{0,39}")
CACHE_NAME = re.compile(r"cachedContents/[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_MARKERS = (b"files/", b"cachedContents/")
#: Distinct files and caches one request may name: each is looked up (all in one
#: statement), and a body naming thousands would hold a worker and the database.
MAX_REFERENCES = 50


def references(body: Any) -> Iterator[str]:
    """The file and cache names a request body uses."""
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("fileUri", "file_uri") and isinstance(value, str):
                    name = _file_of_uri(value)
                    if name:
                        yield name
                elif key in ("cachedContent", "cached_content") and isinstance(value, str):
                    if CACHE_NAME.fullmatch(value):
                        yield value
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))


def distinct_references(body: Any) -> list[str]:
    """The distinct file and cache names a request body uses, in order.

    :raises BadRequest: more than ``MAX_REFERENCES`` of them.
    """
    names: dict[str, None] = {}
    for name in references(body):
        names[name] = None
        if len(names) > MAX_REFERENCES:
            raise BadRequest(f"This request names more than {MAX_REFERENCES} different files "
                             f"and cached contents; at most {MAX_REFERENCES} are allowed in "
                             "one request.")
    return list(names)


def not_found(name: str) -> BadRequest:
    """The 404 for a name Balancer does not know, or that another client created:
    both get the same answer."""
    kind = "File" if name.startswith("files/") else "Cached content"
    return BadRequest(f"{kind} {quoted(name)} is not known to Balancer: it was not created through "
                      "Balancer, or it has expired.", status=404)


def _file_of_uri(uri: str) -> Optional[str]:
    """``files/abc`` of ``https://generativelanguage.googleapis.com/v1beta/files/abc``."""
    head, sep, ident = uri.split("?", 1)[0].rpartition("files/")
    if not sep or (head and not head.endswith("/")):
        return None
    name = f"files/{ident}"
    return name if FILE_NAME.fullmatch(name) else None


def pin_for(rt: Runtime, raw: bytes, body: Any, client: ClientInfo) -> Optional[Pin]:
    """The key this request of ``client`` must use, or None when it names nothing
    Balancer made.

    :raises BadRequest: 404 for a name another client created; 400 when the request
        names more than ``MAX_REFERENCES`` resources, or mixes resources of two
        keys' projects, which no single key can serve.
    """
    if not any(marker in raw for marker in _MARKERS):
        return None  # the common case costs a substring search, no walk
    names = distinct_references(body)
    if not names:
        return None
    owners = rt.owners.owners(names)
    pins: dict[int, str] = {}
    for name in names:
        owner = owners[name]
        if owner is None:
            continue
        if not owner.open_to(client):
            raise not_found(name)
        pins.setdefault(owner.key_id, name)
    if len(pins) > 1:
        names = " and ".join(sorted(pins.values()))
        raise BadRequest(f"{names} were created with different keys (Google projects); "
                         "one request can only use resources of one project.")
    if not pins:
        return None
    key_id, name = next(iter(pins.items()))
    return Pin(key_id, name)


def pool_of_pin(rt: Runtime, pin: Pin) -> PoolInfo:
    """The pool of the pinned key (whatever pool the model would route to).

    :raises BadRequest: 503 when the key has gone or its pool is switched off.
    """
    pool_id = rt.keypool.pool_of(pin.key_id)
    pool = rt.catalog.pools.get(pool_id) if pool_id is not None else None
    if pool is None:
        raise BadRequest(f"{pin.owner_of} was created with key #{pin.key_id}, which is no "
                         "longer in Balancer; upload or create it again.", status=503)
    if not pool.enabled:
        raise BadRequest(f"{pin.owner_of} belongs to pool '{pool.name}', which is switched off.",
                         status=503)
    return pool
