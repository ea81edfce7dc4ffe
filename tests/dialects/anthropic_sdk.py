"""The official anthropic SDK reading what the translators wrote, as a client of Balancer would.

The SDK talks to an in-process transport that answers with the given bytes: no server,
no network.
"""
from __future__ import annotations

import json
from typing import Any, Union

import anthropic
import httpx2


def client(answer: Union[bytes, dict], content_type: str = "application/json",
           status: int = 200) -> anthropic.Anthropic:
    """An Anthropic client whose every request gets ``answer``."""
    body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": content_type})

    return anthropic.Anthropic(api_key="client-token", base_url="http://balancer.test",
                               http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
                               max_retries=0)


def read_stream(sse: bytes) -> tuple[list[Any], Any]:
    """(events, final message) as the SDK's ``messages.stream`` accumulator sees an SSE body."""
    with client(sse, "text/event-stream").messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as stream:
        seen = list(stream)
        return seen, stream.get_final_message()
