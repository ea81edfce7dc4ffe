"""Which ``Host`` headers Balancer answers, against DNS rebinding.

A web page on a name its owner points at this machine's address can make a
browser send requests here; they carry the page's own name as ``Host``. Only
this machine's names and addresses, loopback and ``TRUSTED_HOSTS`` are answered;
everything else gets a 400 before any view runs. The port never matters.

werkzeug has a trusted-hosts check of its own (Flask's ``TRUSTED_HOSTS``), but it
cannot match an IPv6 address (``[::1]:8000``), so Balancer compares the bare names.
"""
from __future__ import annotations

import logging
import threading
from typing import Optional

log = logging.getLogger(__name__)

#: distinct refused names logged (each once per process), so a flood cannot flood the log.
_LOGGED_MAX = 100
_logged: set[str] = set()
_lock = threading.Lock()


def host_name(header: str) -> str:
    """A ``Host`` header's name or address without port or IPv6 brackets, lower case."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value.rstrip(".")


def is_trusted(header: Optional[str], trusted: Optional[frozenset]) -> bool:
    """Whether a request's ``Host`` header names one of the trusted hosts (None: any).

    A request without the header (HTTP/1.0) is let through: browsers always send it.
    """
    if trusted is None or not header:
        return True
    name = host_name(header).rstrip(".")
    if name in trusted:
        return True
    return any(entry.startswith(".") and (name.endswith(entry) or name == entry[1:])
               for entry in trusted)


def refusal(header: str) -> str:
    """What the caller is told (and the log says once per name)."""
    name = host_name(header)[:100]
    message = (f"Host {name!r} is not one this Balancer answers: add it to TRUSTED_HOSTS "
               "(behind a platform's router or a reverse proxy, its public host name).")
    with _lock:
        first = name not in _logged and len(_logged) < _LOGGED_MAX
        if first:
            _logged.add(name)
    if first:
        log.warning("refused requests for Host %r: it is not in TRUSTED_HOSTS (on a platform "
                    "or behind a reverse proxy, set TRUSTED_HOSTS to the public host name)", name)
    return message
