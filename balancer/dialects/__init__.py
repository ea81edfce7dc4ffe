"""Pure translations between client dialects and Gemini's native API (the hub).

No Flask, no I/O, no key, no clock but the one passed in. What a client sends that has no
faithful Gemini counterpart raises ``Untranslatable`` naming the field (the proxy answers
400 in the client's error shape); each module's docstring lists its lossy points.

OpenAI chat completions: ``chat_request.to_native`` -> (native body, ``ChatContext``);
``chat_answer.to_chat``; ``chat_stream.ChatStream``. OpenAI Responses (through the chat
translation): ``responses_request.to_native`` -> (native body, ``ResponsesContext``);
``responses_answer.to_response``; ``responses_stream.ResponsesStream``. Anthropic Messages:
``anthropic_request.to_native`` -> (native body, ``AnthropicContext``);
``anthropic_answer.to_message``; ``anthropic_stream.AnthropicStream``; errors in Anthropic's
shape from ``anthropic_errors``. Embeddings, models, image
generation and text to speech: ``embeddings``, ``models``, ``images``, ``speech``. Native error bodies become OpenAI's
envelope through ``upstream.providers.openai_error_from_upstream``.

Native bodies served by an OpenAI-kind upstream (the hub's way out to chat completions):
``native_to_chat.chat_request_from_native`` (request);
``chat_to_native.native_answer_from_chat`` (answer); ``chat_to_native.NativeStreamFromChat``
(stream).
"""
from __future__ import annotations

from balancer.dialects.chat_answer import to_chat
from balancer.dialects.chat_request import ChatContext, to_native
from balancer.dialects.chat_stream import ChatStream
from balancer.dialects.chat_to_native import NativeStreamFromChat, native_answer_from_chat
from balancer.dialects.errors import Untranslatable
from balancer.dialects.native_to_chat import chat_request_from_native

__all__ = ["ChatContext", "ChatStream", "NativeStreamFromChat", "Untranslatable",
           "chat_request_from_native", "native_answer_from_chat", "to_chat", "to_native"]
