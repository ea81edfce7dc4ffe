"""``FakeUpstream``: the fake served from a background thread of the current process."""

from __future__ import annotations

import threading
from typing import Any, Optional

from .app import FakeApp
from .runners import ThreadedServer
from .state import Config, FakeState, updated_config


class FakeUpstream:
    """A fake Gemini / OpenAI upstream on a loopback port, for tests.

    ``FakeUpstream(port=0).start()`` binds a free port and serves from a daemon thread (a
    threaded HTTP/1.1 server; nothing is monkey-patched). Extra keyword arguments are initial
    settings (``latency``, ``chunks``, ``chunk_delay``, ``sse_crlf``, ``embed_dim``), which
    ``reset()`` restores.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **settings: Any) -> None:
        """Prepare the fake; nothing listens until ``start()``."""
        self.host = host
        self.port = port
        self.state = FakeState(updated_config(Config(), **settings))
        self.app = FakeApp(self.state)
        self._server: Optional[ThreadedServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> "FakeUpstream":
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._server = ThreadedServer((self.host, self.port), self.app)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-upstream-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections (streams in flight end abruptly)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeUpstream":
        """``with FakeUpstream() as fake:`` starts it."""
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        """And stops it."""
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` with no trailing slash."""
        return f"http://{self.host}:{self.port}"

    # -- control -------------------------------------------------------------------------

    def set_key(self, key: str, mode: str = "good", **params: Any) -> None:
        """Script one key; see ``behaviours.py`` for modes and params.

        :raises ValueError: unknown mode or param.
        """
        self.state.set_key(key, mode, **params)

    def set_keys(self, mapping: dict[str, Any]) -> None:
        """Script several keys: ``{key: mode}`` or ``{key: {"mode": ..., **params}}``."""
        self.state.set_keys(mapping)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change server-wide settings; returns them all."""
        return self.state.configure(**settings)

    def reset(self) -> None:
        """Forget scripts, recorded requests and counters; restore the initial settings."""
        self.state.reset()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded API requests, oldest first (the last 10,000)."""
        return self.state.requests()

    def count(
        self,
        key: Optional[str] = None,
        flavour: Optional[str] = None,
        path_contains: Optional[str] = None,
    ) -> int:
        """How many API requests matched all the given filters."""
        return self.state.count(key, flavour, path_contains)

    def stats(self) -> dict[str, Any]:
        """Counts per key and per flavour, current scripts and settings."""
        return self.state.stats()
