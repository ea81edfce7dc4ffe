"""Per-key scripted behaviour: which modes exist, their parameters, and when they apply.

A key's script says how the fake answers requests made with that key. The exact error bodies
live in ``google_errors.py`` and ``openai_errors.py``; this module only decides *whether* a
request misbehaves and with which parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Optional

GOOD = "good"

#: Modes answered with an error status before any body is produced.
ERROR_MODES = frozenset(
    {
        "invalid",
        "expired",
        "not_found_key",
        "suspended",
        "leaked",
        "service_disabled",
        "no_permission",
        "location",
        "rate_minute",
        "rate_day",
        "rate_unknown",
        "quota",
        "internal",
        "overloaded",
    }
)
#: Modes that only change streamed answers.
STREAM_MODES = frozenset({"trickle", "break_stream"})
#: Modes that only change generated content (200 with no usable answer).
CONTENT_MODES = frozenset({"empty", "blocked"})
#: Modes that change timing or the connection, for every request.
TRANSPORT_MODES = frozenset({"slow", "reset"})

MODES = frozenset({GOOD}) | ERROR_MODES | STREAM_MODES | CONTENT_MODES | TRANSPORT_MODES

#: Request kinds, as the flavours classify them.
KIND_META = "meta"  # list/get models: no per-model quota applies
KIND_GENERATE = "generate"  # generateContent, chat/completions without stream
KIND_STREAM = "stream"  # streamGenerateContent, chat/completions with stream
KIND_OTHER = "other"  # countTokens, embeddings

BREAK_HOWS = ("bare", "event", "close")

_DEFAULT_DELAY = {"slow": 1.0, "trickle": 0.2}
# rate_day still carries a short RetryInfo in real answers; decide by quotaId, not delay.
_DEFAULT_RETRY_DELAY = {"rate_day": 47.0, "quota": 47.0}
_FALLBACK_RETRY_DELAY = 2.5

PARAMS = frozenset(
    {"times", "models", "delay", "after", "how", "retry_delay", "error", "retry_after"}
)


def normalise_model(name: Optional[str]) -> Optional[str]:
    """Strip the ``models/`` prefix so that both spellings compare equal."""
    if name and name.startswith("models/"):
        return name[len("models/") :]
    return name


def parse_seconds(value: Any) -> float:
    """Read ``2.5``, ``"2.5"`` or a protobuf Duration string ``"2.5s"`` as seconds."""
    if isinstance(value, str):
        value = value.strip().removesuffix("s")
    seconds = float(value)
    if seconds < 0:
        raise ValueError(f"negative duration: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Format seconds as a protobuf Duration string, fractional only when needed."""
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


@dataclass(frozen=True)
class Script:
    """How one key misbehaves; ``remaining`` counts down the ``times`` budget."""

    mode: str = GOOD
    remaining: Optional[int] = None
    models: Optional[frozenset[str]] = None
    delay: Optional[float] = None
    after: int = 1
    how: str = "bare"
    retry_delay: Optional[float] = None
    error: str = "internal"
    retry_after: bool = True

    @classmethod
    def build(cls, mode: str = GOOD, **params: Any) -> "Script":
        """Validate ``mode`` and its params and return a script.

        :raises ValueError: unknown mode, unknown param or a bad value.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {sorted(MODES)}")
        unknown = set(params) - PARAMS
        if unknown:
            raise ValueError(f"unknown params {sorted(unknown)}; known: {sorted(PARAMS)}")
        how = params.get("how", "bare")
        if how not in BREAK_HOWS:
            raise ValueError(f"how must be one of {BREAK_HOWS}, not {how!r}")
        error = params.get("error", "internal")
        if error not in ERROR_MODES:
            raise ValueError(f"error must be an error mode, not {error!r}")
        times = params.get("times")
        models = params.get("models")
        if isinstance(models, str):
            models = [models]
        return cls(
            mode=mode,
            remaining=None if times is None else int(times),
            models=None if models is None else frozenset(normalise_model(m) for m in models),
            delay=None if params.get("delay") is None else parse_seconds(params["delay"]),
            after=int(params.get("after", 1)),
            how=how,
            retry_delay=(
                None
                if params.get("retry_delay") is None
                else parse_seconds(params["retry_delay"])
            ),
            error=error,
            retry_after=bool(params.get("retry_after", True)),
        )

    @property
    def seconds(self) -> float:
        """The ``delay`` param, or the mode's default."""
        if self.delay is not None:
            return self.delay
        return _DEFAULT_DELAY.get(self.mode, 0.0)

    def retry_seconds(self, mode: Optional[str] = None) -> float:
        """The ``retry_delay`` param, or the default for ``mode`` (this script's by default)."""
        if self.retry_delay is not None:
            return self.retry_delay
        return _DEFAULT_RETRY_DELAY.get(mode or self.mode, _FALLBACK_RETRY_DELAY)

    def applies(self, kind: str, model: Optional[str]) -> bool:
        """Whether this script changes a request of ``kind`` for ``model``."""
        if self.mode == GOOD or self.remaining == 0:
            return False
        if self.models is not None and (kind == KIND_META or model not in self.models):
            # Gemini quotas are per model; listing models is not a per-model call.
            return False
        if self.mode in STREAM_MODES:
            return kind == KIND_STREAM
        if self.mode in CONTENT_MODES:
            return kind in (KIND_GENERATE, KIND_STREAM)
        return True

    def spent(self) -> "Script":
        """The script after one more misbehaving request."""
        if self.remaining is None:
            return self
        return replace(self, remaining=max(0, self.remaining - 1))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view, for ``/__fake/stats``."""
        data = asdict(self)
        if self.models is not None:
            data["models"] = sorted(self.models)
        return data


GOOD_SCRIPT = Script()


def build_scripts(mapping: dict[str, Any]) -> dict[str, Script]:
    """Build scripts from ``{key: mode}`` or ``{key: {"mode": ..., **params}}``."""
    scripts = {}
    for key, spec in mapping.items():
        if isinstance(spec, str):
            scripts[key] = Script.build(spec)
        else:
            spec = dict(spec)
            scripts[key] = Script.build(spec.pop("mode", GOOD), **spec)
    return scripts

