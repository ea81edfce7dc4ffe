"""Per-pool request defaults: what Balancer adds to a request that did not say.

gemini-balance users set these once for every client: safety settings (most
want ``BLOCK_NONE``), a thinking budget per model, and extra upstream headers
(OpenRouter's ``HTTP-Referer`` and ``X-Title``, a gateway's routing header).
A request that sets an option itself always keeps its own value.

Stored as JSON on the pool::

    {"safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
     "thinking_budgets": {"gemini-2.5-flash": 1024},
     "headers": {"X-Title": "my app"}}
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

#: the categories Gemini's generateContent accepts for text models.
HARM_CATEGORIES = ("HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH",
                   "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT",
                   "HARM_CATEGORY_CIVIC_INTEGRITY")
THRESHOLDS = ("BLOCK_NONE", "BLOCK_ONLY_HIGH", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_LOW_AND_ABOVE",
              "HARM_BLOCK_THRESHOLD_UNSPECIFIED", "OFF")
#: Gemini's documented range; -1 asks for a dynamic budget, 0 turns thinking off.
THINKING_MIN, THINKING_MAX = -1, 32768
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]{0,63}")
#: headers Balancer sets itself, or that would let a default break a request.
_RESERVED_HEADERS = frozenset({
    "authorization", "x-goog-api-key", "api-key", "x-api-key", "host", "content-length",
    "content-type", "transfer-encoding", "connection", "accept-encoding", "cookie",
    "proxy-authorization", "te", "upgrade", "keep-alive",
})
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")


class DefaultsError(ValueError):
    """A request default that cannot be stored; the message names the field."""


@dataclass(frozen=True)
class RequestDefaults:
    """One pool's defaults, checked."""

    safety_settings: tuple[Mapping[str, str], ...] = ()
    thinking_budgets: Mapping[str, int] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.safety_settings or self.thinking_budgets or self.headers)

    def as_json(self) -> dict:
        """The stored form (only what is set)."""
        out: dict[str, Any] = {}
        if self.safety_settings:
            out["safety_settings"] = [dict(s) for s in self.safety_settings]
        if self.thinking_budgets:
            out["thinking_budgets"] = dict(self.thinking_budgets)
        if self.headers:
            out["headers"] = dict(self.headers)
        return out

    def thinking_budget(self, model: str) -> Optional[int]:
        """The budget for ``model``, or None. Per model only: a budget sent to a
        model that does not think is refused by the upstream."""
        return self.thinking_budgets.get(model)

    def apply_native(self, body: dict, model: str) -> bool:
        """Fill a ``generateContent`` body's unset options; True when it changed."""
        changed = False
        if self.safety_settings and "safetySettings" not in body and "safety_settings" not in body:
            body["safetySettings"] = [dict(s) for s in self.safety_settings]
            changed = True
        budget = self.thinking_budget(model)
        if budget is not None:
            config = _object(body, "generationConfig", "generation_config")
            thinking = _object(config, "thinkingConfig", "thinking_config") if config is not None else None
            if (thinking is not None and "thinkingBudget" not in thinking
                    and "thinking_budget" not in thinking and "thinkingLevel" not in thinking
                    and "thinking_level" not in thinking):
                thinking["thinkingBudget"] = budget
                changed = True
        return changed

    def apply_compat(self, body: dict, model: str) -> bool:
        """Fill a chat body for Gemini's OpenAI layer; True when it changed.

        That layer takes a thinking budget in ``extra_body.google.thinking_config``
        and has no place for safety settings, so only the budget applies.
        """
        budget = self.thinking_budget(model)
        if budget is None or "reasoning_effort" in body:
            return False
        extra = _object(body, "extra_body")
        google = _object(extra, "google") if extra is not None else None
        if google is None or "thinking_config" in google:
            return False
        google["thinking_config"] = {"thinking_budget": budget}
        return True


def _object(parent: dict, name: str, alias: Optional[str] = None) -> Optional[dict]:
    """``parent[name]`` (or its snake_case alias), created when absent; None when it
    is there but not an object (the upstream will say what is wrong with it)."""
    if alias is not None and alias in parent:
        name = alias
    value = parent.setdefault(name, {})
    return value if isinstance(value, dict) else None


def parse(raw: Any) -> RequestDefaults:
    """Check stored or submitted defaults.

    :raises DefaultsError: naming the first field that is wrong.
    """
    if raw in (None, {}):
        return RequestDefaults()
    if not isinstance(raw, dict):
        raise DefaultsError("request defaults must be an object")
    unknown = set(raw) - {"safety_settings", "thinking_budgets", "headers"}
    if unknown:
        raise DefaultsError(f"unknown request default(s): {', '.join(sorted(unknown))}; "
                            "expected safety_settings, thinking_budgets, headers")
    return RequestDefaults(safety_settings=_safety(raw.get("safety_settings") or []),
                           thinking_budgets=_budgets(raw.get("thinking_budgets") or {}),
                           headers=_headers(raw.get("headers") or {}))


def safety_for_all(threshold: str) -> list[dict]:
    """One threshold for every harm category (what most people want)."""
    if threshold not in THRESHOLDS:
        raise DefaultsError(f"safety threshold {threshold!r}: expected one of {', '.join(THRESHOLDS)}")
    return [{"category": c, "threshold": threshold} for c in HARM_CATEGORIES]


def _safety(items: Any) -> tuple[Mapping[str, str], ...]:
    if not isinstance(items, list):
        raise DefaultsError("safety_settings must be a list of {category, threshold}")
    seen: set[str] = set()
    out = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"category", "threshold"}:
            raise DefaultsError("each safety setting must be {category, threshold}")
        category, threshold = item["category"], item["threshold"]
        if not isinstance(category, str) or not re.fullmatch(r"HARM_CATEGORY_[A-Z_]{1,40}", category):
            raise DefaultsError(f"safety category {category!r}: expected e.g. "
                                f"{', '.join(HARM_CATEGORIES)}")
        if threshold not in THRESHOLDS:
            raise DefaultsError(f"safety threshold {threshold!r}: expected one of "
                                f"{', '.join(THRESHOLDS)}")
        if category in seen:
            raise DefaultsError(f"safety category {category} is given twice")
        seen.add(category)
        out.append({"category": category, "threshold": threshold})
    return tuple(out)


def _budgets(items: Any) -> dict[str, int]:
    if not isinstance(items, dict):
        raise DefaultsError("thinking_budgets must map a model name to a number")
    out = {}
    for model, budget in items.items():
        if not (isinstance(model, str) and _MODEL.fullmatch(model)):
            raise DefaultsError(f"thinking budget model {model!r} is not a model name")
        if (isinstance(budget, bool) or not isinstance(budget, int)
                or not THINKING_MIN <= budget <= THINKING_MAX):
            raise DefaultsError(f"thinking budget for {model}: a whole number from "
                                f"{THINKING_MIN} (dynamic) to {THINKING_MAX}")
        out[model] = budget
    return out


def _headers(items: Any) -> dict[str, str]:
    if not isinstance(items, dict):
        raise DefaultsError("headers must map a header name to a value")
    out = {}
    for name, value in items.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise DefaultsError(f"header name {name!r}: letters, digits and '-' only")
        if name.lower() in _RESERVED_HEADERS:
            raise DefaultsError(f"header {name} is set by Balancer itself")
        if (not isinstance(value, str) or len(value) > 1024
                or any(c in value for c in "\r\n\0")):
            raise DefaultsError(f"header {name}: a one-line value of at most 1024 characters")
        out[name] = value
    return out
