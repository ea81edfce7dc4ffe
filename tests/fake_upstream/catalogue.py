"""The models each fake flavour knows: about 60 Gemini models and a few OpenAI ones."""

from __future__ import annotations

from typing import Any, Optional

GENERATE = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
EMBED = ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"]
LIVE = ["bidiGenerateContent"]
PREDICT = ["predict"]
PREDICT_LONG = ["predictLongRunning"]


def _model(
    name: str,
    display: str,
    methods: list[str],
    *,
    thinking: bool = False,
    inputs: int = 1_048_576,
    outputs: int = 8_192,
    version: str = "001",
    concrete: Optional[str] = None,
) -> dict[str, Any]:
    model: dict[str, Any] = {
        "name": f"models/{name}",
        "version": version,
        "displayName": display,
        "description": f"Fake {display} for Balancer tests.",
        "inputTokenLimit": inputs,
        "outputTokenLimit": outputs,
        "supportedGenerationMethods": list(methods),
    }
    if "generateContent" in methods:
        model.update({"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2})
    if thinking:
        model["thinking"] = True
    # Private fields, stripped before the model is sent: the reported modelVersion.
    model["_concrete"] = concrete or name
    return model


def _gemini(name: str, display: str, **kw: Any) -> dict[str, Any]:
    thinking = name.startswith(("gemini-2.5", "gemini-3")) or "thinking" in name
    return _model(name, display, GENERATE, thinking=thinking, **kw)


_BIG = {"outputs": 65_536}

GEMINI_MODELS: list[dict[str, Any]] = [
    _gemini("gemini-2.5-flash", "Gemini 2.5 Flash", **_BIG),
    _gemini("gemini-2.5-pro", "Gemini 2.5 Pro", **_BIG),
    _gemini("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", **_BIG),
    _gemini("gemini-2.5-flash-preview-05-20", "Gemini 2.5 Flash Preview 05-20", **_BIG),
    _gemini("gemini-2.5-flash-preview-09-2025", "Gemini 2.5 Flash Preview Sep 2025", **_BIG),
    _gemini("gemini-2.5-flash-lite-preview-06-17", "Gemini 2.5 Flash-Lite Preview", **_BIG),
    _gemini("gemini-2.5-flash-lite-preview-09-2025", "Gemini 2.5 Flash-Lite Sep 2025", **_BIG),
    _gemini("gemini-2.5-pro-preview-03-25", "Gemini 2.5 Pro Preview 03-25", **_BIG),
    _gemini("gemini-2.5-pro-preview-05-06", "Gemini 2.5 Pro Preview 05-06", **_BIG),
    _gemini("gemini-2.5-pro-preview-06-05", "Gemini 2.5 Pro Preview", **_BIG),
    _gemini("gemini-2.0-flash", "Gemini 2.0 Flash"),
    _gemini("gemini-2.0-flash-001", "Gemini 2.0 Flash 001"),
    _gemini("gemini-2.0-flash-exp", "Gemini 2.0 Flash Experimental"),
    _gemini("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite"),
    _gemini("gemini-2.0-flash-lite-001", "Gemini 2.0 Flash-Lite 001"),
    _gemini("gemini-2.0-flash-lite-preview", "Gemini 2.0 Flash-Lite Preview"),
    _gemini("gemini-2.0-flash-lite-preview-02-05", "Gemini 2.0 Flash-Lite Preview 02-05"),
    _gemini("gemini-2.0-flash-thinking-exp", "Gemini 2.0 Flash Thinking Experimental"),
    _gemini("gemini-2.0-flash-thinking-exp-01-21", "Gemini 2.0 Flash Thinking Exp 01-21"),
    _gemini("gemini-2.0-flash-thinking-exp-1219", "Gemini 2.0 Flash Thinking Exp 1219"),
    _gemini("gemini-2.0-pro-exp", "Gemini 2.0 Pro Experimental"),
    _gemini("gemini-2.0-pro-exp-02-05", "Gemini 2.0 Pro Experimental 02-05"),
    _gemini("gemini-exp-1206", "Gemini Experimental 1206"),
    _gemini("gemini-flash-latest", "Gemini Flash Latest", concrete="gemini-2.5-flash", **_BIG),
    _gemini(
        "gemini-flash-lite-latest",
        "Gemini Flash-Lite Latest",
        concrete="gemini-2.5-flash-lite",
        **_BIG,
    ),
    _gemini("gemini-pro-latest", "Gemini Pro Latest", concrete="gemini-2.5-pro", **_BIG),
    _gemini("gemini-3-pro-preview", "Gemini 3 Pro Preview", **_BIG),
    _gemini("gemini-3-flash-preview", "Gemini 3 Flash Preview", **_BIG),
    _gemini("gemini-2.5-flash-image", "Nano Banana", outputs=32_768),
    _gemini("gemini-2.5-flash-image-preview", "Nano Banana Preview", outputs=32_768),
    _gemini("gemini-2.0-flash-exp-image-generation", "Gemini 2.0 Flash Image Generation"),
    _gemini("gemini-2.0-flash-preview-image-generation", "Gemini 2.0 Flash Image Preview"),
    _gemini("gemini-2.5-flash-preview-tts", "Gemini 2.5 Flash Preview TTS", inputs=8_192),
    _gemini("gemini-2.5-pro-preview-tts", "Gemini 2.5 Pro Preview TTS", inputs=8_192),
    _gemini("gemini-2.5-computer-use-preview-10-2025", "Gemini 2.5 Computer Use", **_BIG),
    _gemini("gemini-robotics-er-1.5-preview", "Gemini Robotics-ER 1.5 Preview", **_BIG),
    _gemini("learnlm-2.0-flash-experimental", "LearnLM 2.0 Flash Experimental", inputs=32_768),
    _gemini("gemma-3-1b-it", "Gemma 3 1B", inputs=32_768),
    _gemini("gemma-3-4b-it", "Gemma 3 4B", inputs=32_768),
    _gemini("gemma-3-12b-it", "Gemma 3 12B", inputs=32_768),
    _gemini("gemma-3-27b-it", "Gemma 3 27B", inputs=131_072),
    _gemini("gemma-3n-e4b-it", "Gemma 3n E4B", inputs=8_192, outputs=2_048),
    _gemini("gemma-3n-e2b-it", "Gemma 3n E2B", inputs=8_192, outputs=2_048),
    _model("gemini-2.0-flash-live-001", "Gemini 2.0 Flash Live", LIVE),
    _model("gemini-live-2.5-flash-preview", "Gemini Live 2.5 Flash Preview", LIVE),
    _model("gemini-2.5-flash-native-audio-latest", "Gemini 2.5 Flash Native Audio", LIVE),
    _model("gemini-2.5-flash-live-preview", "Gemini 2.5 Flash Live Preview", LIVE),
    _model("embedding-001", "Embedding 001", EMBED, inputs=2_048, outputs=1),
    _model("text-embedding-004", "Text Embedding 004", EMBED, inputs=2_048, outputs=1),
    _model("gemini-embedding-exp-03-07", "Gemini Embedding Exp 03-07", EMBED, outputs=1),
    _model("gemini-embedding-exp", "Gemini Embedding Experimental", EMBED, outputs=1),
    _model("gemini-embedding-001", "Gemini Embedding 001", EMBED, inputs=2_048, outputs=1),
    _model("aqa", "Attributed Question Answering", ["generateAnswer"], inputs=7_168),
    _model("imagen-3.0-generate-002", "Imagen 3.0", PREDICT, inputs=480, outputs=8_192),
    _model("imagen-4.0-generate-preview-06-06", "Imagen 4 (Preview)", PREDICT, inputs=480),
    _model("imagen-4.0-ultra-generate-preview-06-06", "Imagen 4 Ultra Preview", PREDICT),
    _model("imagen-4.0-generate-001", "Imagen 4", PREDICT, inputs=480),
    _model("imagen-4.0-ultra-generate-001", "Imagen 4 Ultra", PREDICT, inputs=480),
    _model("imagen-4.0-fast-generate-001", "Imagen 4 Fast", PREDICT, inputs=480),
    _model("veo-2.0-generate-001", "Veo 2", PREDICT_LONG, inputs=480),
    _model("veo-3.0-generate-001", "Veo 3", PREDICT_LONG, inputs=480),
    _model("veo-3.0-fast-generate-001", "Veo 3 fast", PREDICT_LONG, inputs=480),
    _model("veo-3.1-generate-preview", "Veo 3.1", PREDICT_LONG, inputs=480),
    _model("veo-3.1-fast-generate-preview", "Veo 3.1 fast", PREDICT_LONG, inputs=480),
]

_GEMINI_BY_ID = {m["name"][len("models/") :]: m for m in GEMINI_MODELS}
_PUBLIC_GEMINI = [{k: v for k, v in m.items() if not k.startswith("_")} for m in GEMINI_MODELS]


def gemini_model(model_id: Optional[str]) -> Optional[dict[str, Any]]:
    """The catalogue entry for ``model_id`` (without ``models/``), or None."""
    return _GEMINI_BY_ID.get(model_id or "")


def gemini_public(start: int = 0, stop: Optional[int] = None) -> list[dict[str, Any]]:
    """Gemini models as the API lists them, without private fields."""
    return _PUBLIC_GEMINI[start:stop]


def public(model: dict[str, Any]) -> dict[str, Any]:
    """One Gemini model as ``GET /models/{id}`` returns it."""
    return {k: v for k, v in model.items() if not k.startswith("_")}


# Methods that the list does not name but that come with another one.
_SAME_AS = {"streamGenerateContent": "generateContent", "batchEmbedContents": "embedContent"}


def supports(model: Optional[dict[str, Any]], method: str) -> bool:
    """Whether a Gemini model serves ``method`` (e.g. ``generateContent``)."""
    if model is None:
        return False
    method = _SAME_AS.get(method, method)
    return method in model["supportedGenerationMethods"]


def thinks(model: dict[str, Any]) -> bool:
    """Whether the model reports ``thoughtsTokenCount``."""
    return bool(model.get("thinking"))


#: Thinking levels each Gemini 3 family accepts (lower case); other models take none.
_LEVELS = {"gemini-3-pro": ("low", "high"), "gemini-3-flash": ("minimal", "low", "medium", "high")}


def thinking_levels(model: dict[str, Any]) -> tuple[str, ...]:
    """The ``thinkingLevel`` values a model accepts; empty for budget-only models (2.5 ...)."""
    name = model["_concrete"]
    for family, levels in _LEVELS.items():
        if name.startswith(family) and "image" not in name and "tts" not in name:
            return levels
    return ()


def enforces_signatures(model: dict[str, Any]) -> bool:
    """Whether the model checks thought signatures on the current turn (Gemini 3 text models)."""
    return bool(thinking_levels(model))


def calls_have_ids(model: dict[str, Any]) -> bool:
    """Whether ``functionCall`` parts carry an ``id`` (Gemini 3 do, 2.x do not)."""
    return model["_concrete"].startswith("gemini-3")


def concrete_name(model: dict[str, Any]) -> str:
    """The name a response's ``modelVersion`` reports (aliases resolve)."""
    return model["_concrete"]


#: OpenAI-provider models: id -> (kind, created).
OPENAI_MODELS: dict[str, tuple[str, int]] = {
    "gpt-4o-mini": ("chat", 1721172741),
    "gpt-4o": ("chat", 1715367049),
    "gpt-4.1": ("chat", 1744316542),
    "gpt-4.1-mini": ("chat", 1744318173),
    "gpt-4.1-nano": ("chat", 1744321707),
    "gpt-3.5-turbo": ("chat", 1677610602),
    "o3-mini": ("chat", 1737146383),
    "o4-mini": ("chat", 1744225351),
    "text-embedding-3-small": ("embedding", 1705948997),
    "text-embedding-3-large": ("embedding", 1705953180),
    "text-embedding-ada-002": ("embedding", 1671217299),
    "dall-e-3": ("image", 1698785189),
    "gpt-image-1": ("image", 1745517030),
    "tts-1": ("speech", 1681940951),
    "tts-1-hd": ("speech", 1699046015),
    "gpt-4o-mini-tts": ("speech", 1742403959),
}


def openai_model(model_id: str) -> Optional[dict[str, Any]]:
    """One OpenAI model object, or None."""
    entry = OPENAI_MODELS.get(model_id)
    if entry is None:
        return None
    return {"id": model_id, "object": "model", "created": entry[1], "owned_by": "system"}


def openai_kind(model_id: Optional[str]) -> Optional[str]:
    """``"chat"``, ``"embedding"``, ``"image"``, ``"speech"`` or None for an unknown model."""
    entry = OPENAI_MODELS.get(model_id or "")
    return entry[0] if entry else None
