"""``FakeControl``: drive a fake running in another process through ``/__fake/...``."""

from __future__ import annotations

import time
from typing import Any, Optional

import requests


class FakeControl:
    """The control half of ``FakeUpstream``'s API, over HTTP.

    ``FakeControl("http://127.0.0.1:8090")`` offers ``set_key``, ``set_keys``, ``configure``,
    ``reset``, ``requests``, ``count`` and ``stats`` with the same meaning.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        """Talk to the fake at ``url`` (``http://HOST:PORT``)."""
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _call(self, method: str, action: str, **kwargs: Any) -> Any:
        response = self._session.request(
            method, f"{self.url}/__fake/{action}", timeout=self.timeout, **kwargs
        )
        if response.status_code == 400:
            raise ValueError(response.json().get("error", response.text))
        response.raise_for_status()
        return response.json()

    def wait_ready(self, timeout: float = 10.0) -> "FakeControl":
        """Poll ``/__fake/health`` until the fake answers; returns self.

        :raises TimeoutError: it did not answer in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "health")
                return self
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"fake upstream at {self.url} is not answering") from None
                time.sleep(0.05)

    def set_key(self, key: str, mode: str = "good", **params: Any) -> None:
        """Script one key.

        :raises ValueError: unknown mode or param.
        """
        self.set_keys({key: {"mode": mode, **params}})

    def set_keys(self, mapping: dict[str, Any]) -> None:
        """Script several keys: ``{key: mode}`` or ``{key: {"mode": ..., **params}}``."""
        self._call("POST", "keys", json=mapping)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change server-wide settings; returns them all."""
        return self._call("POST", "config", json=settings)

    def reset(self) -> None:
        """Forget scripts, recorded requests and counters; restore the initial settings."""
        self._call("POST", "reset")

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded API requests, oldest first."""
        return self._call("GET", "requests")

    def count(
        self,
        key: Optional[str] = None,
        flavour: Optional[str] = None,
        path_contains: Optional[str] = None,
    ) -> int:
        """How many API requests matched all the given filters."""
        params = {"key": key, "flavour": flavour, "path_contains": path_contains}
        query = {name: value for name, value in params.items() if value is not None}
        return self._call("GET", "count", params=query)["count"]

    def stats(self) -> dict[str, Any]:
        """Counts per key and per flavour, current scripts and settings."""
        return self._call("GET", "stats")

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()
