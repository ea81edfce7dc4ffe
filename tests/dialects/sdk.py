"""openai-python reading what the translators wrote, as a client of Balancer would.

The SDK talks to an in-process transport that answers with the given bytes: no server,
no network.
"""
from __future__ import annotations

import json
from typing import Any, Union

import httpx2
import openai
from openai.lib.streaming.chat import ChatCompletionStreamState


def client(answer: Union[bytes, dict], content_type: str = "application/json") -> openai.OpenAI:
    """An OpenAI client whose every request gets ``answer`` (status 200)."""
    body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": content_type})

    return openai.OpenAI(api_key="client-token", base_url="http://balancer.test/v1",
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
                         max_retries=0)


def read_stream(sse: bytes) -> tuple[list[Any], Any]:
    """(chunks, final completion) as openai-python's stream accumulator sees an SSE body."""
    stream = client(sse, "text/event-stream").chat.completions.create(
        model="m", messages=[], stream=True)
    state = ChatCompletionStreamState()
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.choices:
            state.handle_chunk(chunk)
    return chunks, state.get_final_completion()


def events(sse: bytes) -> list[Any]:
    """The JSON payloads of an SSE body (the string "[DONE]" for the sentinel)."""
    out = []
    for block in sse.decode("utf-8").split("\n\n"):
        if not block:
            continue
        assert block.startswith("data: ") and "\n" not in block, block
        data = block[len("data: "):]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out
