"""Pure translations between client dialects and Gemini's native API (the hub).

No Flask, no I/O, no key, no clock but the one passed in. What a client sends that has no
faithful Gemini counterpart raises ``Untranslatable`` naming the field (the proxy answers
400 in the client's error shape); each module's docstring lists its lossy points.

OpenAI chat completions: ``chat_request.to_native`` -> (native body, ``ChatContext``);
``chat_answer.to_chat``; ``chat_stream.ChatStream``. Embeddings, models and image
generation: ``embeddings``, ``models``, ``images``. Native error bodies become OpenAI's
envelope through ``upstream.providers.openai_error_from_upstream``.
"""
from __future__ import annotations

from balancer.dialects.chat_answer import to_chat
from balancer.dialects.chat_request import ChatContext, to_native
from balancer.dialects.chat_stream import ChatStream
from balancer.dialects.errors import Untranslatable

__all__ = ["ChatContext", "ChatStream", "Untranslatable", "to_chat", "to_native"]
