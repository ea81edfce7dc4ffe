"""``generationConfig.thinkingConfig`` as Gemini checks it (reference dialects.md 2.5).

- ``thinkingBudget`` and ``thinkingLevel`` together: 400 "You can only set only one of
  thinking budget and thinking level.";
- a level on a model without levels (2.5 and older): 400 "Thinking level is not supported for
  this model."; a level the model lacks (3 Pro: ``low``/``high`` only; 3 Flash also
  ``minimal``/``medium``): 400 "Thinking level MEDIUM is not supported for this model. Please
  retry with other thinking level."; an unknown level: a protobuf "Invalid value" 400;
- a thinking model reports ``THOUGHTS`` thought tokens unless ``thinkingBudget`` is 0, and
  shows a thought summary only with ``includeThoughts: true``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from . import catalogue, schemas
from . import google_errors as gerr
from .google_errors import Envelope

#: Thought tokens a thinking model reports (budgets and levels do not change it).
THOUGHTS = 12
LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH")
_LEVEL_MESSAGE = (
    "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig.ThinkingConfig"
    ".ThinkingLevel"
)


@dataclass(frozen=True)
class Thinking:
    """How much the model thinks for one request and whether it shows its thoughts."""

    tokens: int = 0
    shown: bool = False


def generation_config(body: dict[str, Any]) -> dict[str, Any]:
    """``generationConfig`` (either spelling), or an empty dict."""
    config = schemas.field(body, "generationConfig")
    return config if isinstance(config, dict) else {}


def read_thinking(
    model: dict[str, Any], body: dict[str, Any]
) -> tuple[Thinking, Optional[Envelope]]:
    """The thinking a request asks of ``model``, or the 400 Gemini gives for its config."""
    config = schemas.field(generation_config(body), "thinkingConfig")
    config = config if isinstance(config, dict) else {}
    budget = schemas.field(config, "thinkingBudget")
    level = schemas.field(config, "thinkingLevel")
    if level == "THINKING_LEVEL_UNSPECIFIED":
        level = None
    if budget is not None and level is not None:
        message = "You can only set only one of thinking budget and thinking level."
        return Thinking(), gerr.invalid_argument(message)
    if level is not None:
        if not isinstance(level, str) or level.upper() not in LEVELS:
            where = "generation_config.thinking_config.thinking_level"
            return Thinking(), gerr.payload_errors([schemas.invalid(where, _LEVEL_MESSAGE, level)])
        levels = catalogue.thinking_levels(model)
        if not levels:
            return Thinking(), gerr.invalid_argument(
                "Thinking level is not supported for this model."
            )
        if level.lower() not in levels:
            message = (
                f"Thinking level {level.upper()} is not supported for this model. "
                "Please retry with other thinking level."
            )
            return Thinking(), gerr.invalid_argument(message)
    tokens = THOUGHTS if catalogue.thinks(model) and budget != 0 else 0
    shown = bool(schemas.field(config, "includeThoughts")) and tokens > 0
    return Thinking(tokens, shown), None
