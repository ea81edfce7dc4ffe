"""Logging set-up: one line per event, secrets redacted on the way out."""
from __future__ import annotations

import logging
import sys

from balancer.upstream.sanitize import redact


class RedactingFilter(logging.Filter):
    """Last line of defence: no key-shaped string reaches a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Tracebacks quote arguments and URLs: redact their text as well.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def configure(level: int) -> None:
    """Attach one stderr handler to the ``balancer`` logger (idempotent)."""
    logger = logging.getLogger("balancer")
    logger.setLevel(level)
    if any(getattr(h, "_balancer", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler._balancer = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
