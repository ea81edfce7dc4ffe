"""The fake's mutable state: key scripts, server-wide settings, the request log, counters.

One ``FakeState`` object owns all of it behind one lock; the WSGI app and the control API
are its only users. Under gevent the lock is monkey-patched into a greenlet-aware one.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

from .behaviours import GOOD_SCRIPT, Script, build_scripts
from .files import FilesStore

LOG_SIZE = 10_000


@dataclass(frozen=True)
class Config:
    """Server-wide settings; replaced as a whole so readers need no lock."""

    latency: float = 0.0  # seconds added before every API answer
    chunks: int = 3  # content chunks per streamed answer
    chunk_delay: float = 0.0  # seconds between stream chunks
    sse_crlf: bool = False  # native SSE events end with \r\n\r\n instead of \n\n
    embed_dim: int = 16  # default embedding length (requests may ask for another)


_CONFIG_FIELDS = {f.name: f.type for f in fields(Config)}


def _coerce(name: str, value: Any) -> Any:
    kind = _CONFIG_FIELDS[name]
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return max(1, int(value))
    return max(0.0, float(value))


def updated_config(config: Config, **changes: Any) -> Config:
    """``config`` with ``changes`` applied and coerced to the right types.

    :raises ValueError: an unknown setting.
    """
    unknown = set(changes) - set(_CONFIG_FIELDS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(_CONFIG_FIELDS)}")
    return replace(config, **{name: _coerce(name, value) for name, value in changes.items()})


class FakeState:
    """Everything the fake remembers between requests."""

    def __init__(self, config: Optional[Config] = None, log_size: int = LOG_SIZE) -> None:
        """Start with no scripts, ``config`` (or the defaults) and an empty log."""
        self._initial = config or Config()
        self._lock = threading.Lock()
        self._scripts: dict[str, Script] = {}
        self._log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self._per_key: Counter[str] = Counter()
        self._per_flavour: Counter[str] = Counter()
        self._per_key_flavour: Counter[tuple[str, str]] = Counter()
        self.config = self._initial
        self.files = FilesStore()

    # -- scripts -------------------------------------------------------------------------

    def set_key(self, key: str, mode: str = "good", **params: Any) -> None:
        """Script ``key`` (see ``behaviours.Script.build`` for modes and params)."""
        script = Script.build(mode, **params)
        with self._lock:
            self._scripts[key] = script

    def set_keys(self, mapping: dict[str, Any]) -> None:
        """Script several keys: ``{key: mode}`` or ``{key: {"mode": ..., **params}}``."""
        scripts = build_scripts(mapping)  # validate all before changing any
        with self._lock:
            self._scripts.update(scripts)

    def take(self, key: Optional[str], kind: str, model: Optional[str]) -> Script:
        """The script for one request, spending one ``times`` if it applies."""
        if not key:
            return GOOD_SCRIPT
        with self._lock:
            script = self._scripts.get(key)
            if script is None or not script.applies(kind, model):
                return GOOD_SCRIPT
            self._scripts[key] = script.spent()
            return script

    def scripts(self) -> dict[str, dict[str, Any]]:
        """Current scripts as plain dicts."""
        with self._lock:
            return {key: script.to_dict() for key, script in self._scripts.items()}

    # -- settings ------------------------------------------------------------------------

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change server-wide settings; returns them all.

        :raises ValueError: an unknown setting.
        """
        with self._lock:
            self.config = updated_config(self.config, **changes)
            return asdict(self.config)

    # -- log -----------------------------------------------------------------------------

    def record(self, entry: dict[str, Any]) -> None:
        """Remember one answered API request."""
        key = entry.get("key") or ""
        flavour = entry.get("flavour") or ""
        with self._lock:
            self._log.append(entry)
            self._per_key[key] += 1
            self._per_flavour[flavour] += 1
            self._per_key_flavour[key, flavour] += 1

    def requests(self) -> list[dict[str, Any]]:
        """The recorded requests, oldest first (the last ``LOG_SIZE`` only)."""
        with self._lock:
            return list(self._log)

    def count(
        self,
        key: Optional[str] = None,
        flavour: Optional[str] = None,
        path_contains: Optional[str] = None,
    ) -> int:
        """How many requests matched; exact unless ``path_contains`` forces a log scan."""
        with self._lock:
            if path_contains is None:
                if key is None and flavour is None:
                    return sum(self._per_key.values())
                if flavour is None:
                    return self._per_key[key]
                if key is None:
                    return self._per_flavour[flavour]
                return self._per_key_flavour[key, flavour]
            return sum(
                1
                for e in self._log
                if path_contains in e["path"]
                and (key is None or e["key"] == key)
                and (flavour is None or e["flavour"] == flavour)
            )

    def stats(self) -> dict[str, Any]:
        """Counts per key and per flavour, the scripts and the settings."""
        scripts = self.scripts()
        with self._lock:
            return {
                "total": sum(self._per_key.values()),
                "keys": dict(self._per_key),
                "flavours": dict(self._per_flavour),
                "scripts": scripts,
                "config": asdict(self.config),
            }

    def reset(self) -> None:
        """Forget scripts, the log and the counters; settings go back to the initial ones."""
        with self._lock:
            self._scripts.clear()
            self._log.clear()
            self._per_key.clear()
            self._per_flavour.clear()
            self._per_key_flavour.clear()
            self.config = self._initial
        self.files.reset()
