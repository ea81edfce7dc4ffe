"""Runtime settings: typed, validated, stored in the database, cached in memory.

An operator changes these while Balancer runs; every worker picks the change
up in its sync loop (seconds), the worker that made it at once. The proxy only
ever reads the in-memory snapshot.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from balancer.keypool.records import PoolPolicy, Strategy
from balancer.keypool.retry import RetryPolicy


class SettingError(ValueError):
    """A setting value was refused; the message names the setting."""


@dataclass(frozen=True)
class SettingSpec:
    """How one setting is typed, bounded and explained."""

    name: str
    kind: type
    default: Any
    help: str
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Optional[tuple[str, ...]] = None

    def coerce(self, raw: Any) -> Any:
        """Return the value as its type, or raise SettingError saying why."""
        try:
            if self.kind is bool:
                value = _to_bool(raw)
            elif self.kind is int:
                if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                    raise ValueError
                value = int(raw)
            elif self.kind is float:
                if isinstance(raw, bool):
                    raise ValueError
                value = float(raw)
            else:
                value = str(raw).strip()
        except (TypeError, ValueError):
            raise SettingError(f"{self.name}: expected {self.kind.__name__}, got {raw!r}") from None
        if self.kind is float and not math.isfinite(value):
            # NaN passes every comparison with a bound, and neither it nor an infinity
            # is a length of time (nor JSON that every database stores).
            raise SettingError(f"{self.name}: must be a finite number, got {raw!r}")
        if self.choices is not None and value not in self.choices:
            raise SettingError(f"{self.name}: expected one of {', '.join(self.choices)}, got {value!r}")
        if self.low is not None and value < self.low:
            raise SettingError(f"{self.name}: must be at least {self.low}, got {value}")
        if self.high is not None and value > self.high:
            raise SettingError(f"{self.name}: must be at most {self.high}, got {value}")
        return value


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    raise ValueError


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("strategy", str, "round_robin", "How a key is picked: round_robin, random, "
                "least_busy (fewest in flight) or least_used (fewest requests today).",
                choices=tuple(s.value for s in Strategy)),
    SettingSpec("requests_per_key", int, 1, "round_robin keeps a key for this many requests "
                "before moving to the next.", 1, 10_000),
    SettingSpec("max_retries", int, 3, "Further attempts after 5xx, timeouts and overloads, "
                "before the client gets the error.", 0, 50),
    SettingSpec("max_key_failovers", int, 10, "Further keys tried after dead or rate-limited "
                "ones on one request (apart from max_retries).", 0, 1000),
    SettingSpec("max_failures", int, 3, "Consecutive failures (5xx, timeouts) before a key is "
                "ejected for that model.", 1, 1000),
    SettingSpec("ejection_base_seconds", float, 30.0, "First ejection length; it grows with "
                "each ejection in a row.", 1, 86_400),
    SettingSpec("ejection_max_seconds", float, 1800.0, "Longest ejection.", 1, 604_800),
    SettingSpec("cooldown_default_seconds", float, 60.0, "Cooldown after a per-minute rate "
                "limit that gives no retry delay.", 1, 86_400),
    SettingSpec("cooldown_margin_seconds", float, 1.0, "Added to every delay the upstream "
                "asks for.", 0, 600),
    SettingSpec("cooldown_unknown_seconds", float, 5.0, "First cooldown after a 429 without "
                "details; doubles on repeats.", 0.1, 3600),
    SettingSpec("cooldown_unknown_max_seconds", float, 120.0, "Cap for the growing cooldown "
                "after 429s without details.", 1, 86_400),
    SettingSpec("cooldown_no_access_seconds", float, 3600.0, "Cooldown for a model the key's "
                "project may not use (permission, region).", 1, 604_800),
    SettingSpec("connect_timeout_seconds", float, 5.0, "Upstream connect timeout.", 0.1, 120),
    SettingSpec("read_timeout_seconds", float, 120.0, "Upstream read timeout (between bytes "
                "of a stream too).", 1, 3600),
    SettingSpec("stream_keepalive_seconds", float, 15.0, "While a stream waits for its "
                "first upstream byte (a model thinking), an SSE comment is sent this often so "
                "that a proxy in front does not close the idle connection (0 = never). Gemini's "
                "JSON-array streams get none.", 0, 3600),
    SettingSpec("fake_stream", bool, False, "Serve a client's stream from the upstream's "
                "non-streaming call: keep-alives while it waits, then the whole answer in the "
                "client's stream framing; until it has come another key may still answer. For "
                "upstreams whose streams break under load (mostly set per pool)."),
    SettingSpec("retry_backoff_seconds", float, 0.05, "Pause before retrying after a 5xx, "
                "timeout or overload; doubles per attempt.", 0, 10),
    SettingSpec("recovery_interval_seconds", float, 300.0, "How often disabled and ejected "
                "keys are probed with a cheap call (0 = never).", 0, 86_400),
    SettingSpec("sync_interval_seconds", float, 1.5, "How often each worker pulls key states, "
                "settings and tokens changed by others.", 0.2, 60),
    SettingSpec("openai_api", str, "native", "How OpenAI-format requests reach a Gemini pool: "
                "native (Balancer translates them to Gemini's own API, which takes every kind "
                "of key) or compat (passed on to Google's OpenAI-compatible layer as they are; "
                "it refuses auth keys, AQ.…).", choices=("native", "compat")),
    SettingSpec("suffix_search", bool, True, "Model names ending in -search add the Google "
                "Search tool (Gemini API)."),
    SettingSpec("suffix_image", bool, True, "Model names ending in -image ask for image output "
                "(Gemini API)."),
    SettingSpec("suffix_non_thinking", bool, True, "Model names ending in -non-thinking turn "
                "thinking off (thinking budget 0)."),
    SettingSpec("models_refresh_seconds", float, 3600.0, "How often each pool's model list "
                "is fetched again from its upstream, for routing by model (0 = never).",
                0, 604_800),
    SettingSpec("log_requests", bool, True, "Keep one request-log row per request (counters "
                "and statistics go on either way)."),
    SettingSpec("request_log_retention_days", int, 30, "Request-log rows older than this are "
                "deleted in the background (0 = keep them all).", 0, 3650),
    SettingSpec("key_event_retention_days", int, 180, "Key events (cooldowns, disables, "
                "restores) older than this are deleted (0 = keep them all).", 0, 3650),
    SettingSpec("usage_retention_days", int, 35, "Per-minute usage counts (statistics per "
                "minute; longer ranges read the hourly and daily rollups) older than this are "
                "deleted (0 = keep them all).", 0, 3650),
    SettingSpec("usage_hour_retention_days", int, 800, "Hourly usage rollups (statistics over "
                "days) older than this are deleted (0 = keep them all).", 0, 36500),
    SettingSpec("usage_day_retention_days", int, 0, "Daily usage rollups (statistics over "
                "weeks and months) older than this are deleted (0 = keep them all).", 0, 36500),
    SettingSpec("responses_ttl_hours", int, 24, "How long a stored Responses-API response "
                "(what previous_response_id continues from: the conversation's items, thought "
                "signatures included) is kept before it is deleted.", 1, 8760),
    SettingSpec("audit_retention_days", int, 365, "Admin audit-trail entries (sign-ins, "
                "changes) older than this are deleted (0 = keep them all).", 0, 3650),
)
SPEC_BY_NAME: dict[str, SettingSpec] = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True)
class Settings:
    """An immutable snapshot of every runtime setting."""

    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def with_overrides(self, overrides: Optional[Mapping[str, Any]]) -> "Settings":
        """These settings with a pool's overrides applied; one that no longer
        passes its check (stored before a bound changed) is ignored."""
        if not overrides:
            return self
        merged = dict(self.values)
        for name, raw in overrides.items():
            spec = SPEC_BY_NAME.get(name)
            if spec is not None:
                try:
                    merged[name] = spec.coerce(raw)
                except SettingError:
                    continue
        return Settings(merged)

    def policy(self, overrides: Optional[Mapping[str, Any]] = None) -> PoolPolicy:
        """The key-pool policy, with a pool's overrides applied."""
        merged = self.with_overrides(overrides).values
        return PoolPolicy(
            strategy=Strategy(merged["strategy"]),
            requests_per_key=merged["requests_per_key"],
            max_failures=merged["max_failures"],
            ejection_base=merged["ejection_base_seconds"],
            ejection_max=merged["ejection_max_seconds"],
            cooldown_default=merged["cooldown_default_seconds"],
            cooldown_margin=merged["cooldown_margin_seconds"],
            cooldown_unknown_base=merged["cooldown_unknown_seconds"],
            cooldown_unknown_max=merged["cooldown_unknown_max_seconds"],
            cooldown_no_access=merged["cooldown_no_access_seconds"],
        )

    def for_pool(self, overrides: Optional[Mapping[str, Any]] = None) -> "PoolSettings":
        """Everything a request to one pool reads of the settings, merged once."""
        merged = self.with_overrides(overrides)
        return PoolSettings(
            values=merged,
            policy=merged.policy(),
            retry=RetryPolicy(retries=merged.max_retries, failovers=merged.max_key_failovers,
                              backoff_base=merged.retry_backoff_seconds),
            timeout=(merged.connect_timeout_seconds, merged.read_timeout_seconds),
        )


@dataclass(frozen=True)
class PoolSettings:
    """The settings in force for one pool: the global ones with its overrides.

    Built once per settings snapshot and pool (``Runtime.pool_settings``), so a
    request reads them without merging anything.
    """

    values: Settings
    #: how keys are chosen and judged.
    policy: PoolPolicy
    #: the retry budget a request starts with.
    retry: RetryPolicy
    #: (connect, read) seconds for every upstream call.
    timeout: tuple[float, float]


def defaults() -> dict[str, Any]:
    """Every setting at its default."""
    return {spec.name: spec.default for spec in SPECS}


def validate(changes: Mapping[str, Any], current: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Coerce and check changes against the current values.

    Unknown names and bad values raise SettingError naming the setting.
    """
    clean: dict[str, Any] = {}
    for name, raw in changes.items():
        spec = SPEC_BY_NAME.get(name)
        if spec is None:
            raise SettingError(f"{name}: no such setting")
        clean[name] = spec.coerce(raw)
    merged = {**defaults(), **(current or {}), **clean}
    if merged["ejection_max_seconds"] < merged["ejection_base_seconds"]:
        raise SettingError("ejection_max_seconds: must not be below ejection_base_seconds")
    return clean


class SettingsCache:
    """The process's current Settings, swapped whole so readers never lock."""

    def __init__(self, on_change: Optional[Callable[[Settings], None]] = None):
        self._current = Settings(defaults())
        self._lock = threading.Lock()
        self._on_change = on_change

    @property
    def current(self) -> Settings:
        """The snapshot in force."""
        return self._current

    def load(self, stored: Mapping[str, Any]) -> Settings:
        """Replace the snapshot from stored rows; a bad stored value keeps its default."""
        values = defaults()
        for name, raw in stored.items():
            spec = SPEC_BY_NAME.get(name)
            if spec is None:
                continue
            try:
                values[name] = spec.coerce(raw)
            except SettingError:
                continue
        with self._lock:
            changed = values != dict(self._current.values)
            self._current = Settings(values)
        if changed and self._on_change:
            self._on_change(self._current)
        return self._current
