"""gemini-balance's HuggingFace-style prefix: its clients keep their base URL ``.../hf/v1``."""
from __future__ import annotations

import pytest

from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"


@pytest.fixture
def hf_client(app):
    """The official openai client with the base URL a gemini-balance user already has."""
    import httpx2
    import openai

    http = httpx2.Client(transport=httpx2.WSGITransport(app=app))
    return openai.OpenAI(base_url="http://localhost/hf/v1", api_key=TOKEN, max_retries=0,
                         http_client=http)


def test_the_openai_client_chats_under_hf_v1(hf_client, keys, upstream):
    keys(1)
    answer = hf_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert answer.choices[0].message.content
    assert upstream.requests[-1]["path"].endswith(f"/models/{MODEL}:generateContent")


def test_the_openai_client_streams_lists_models_and_uses_responses_under_hf_v1(
        hf_client, keys, upstream):
    keys(1)
    chunks = list(hf_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert MODEL in [m.id for m in hf_client.models.list()]
    response = hf_client.responses.create(model=MODEL, input="Hi")
    assert response.output_text


def test_hf_v1_answers_errors_as_openai_does(hf_client, app):
    import openai

    with pytest.raises(openai.AuthenticationError):
        hf_client.with_options(api_key="not-a-token").chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    missing = app.test_client().get("/hf/v1/nothing-here",
                                    headers={"Authorization": f"Bearer {TOKEN}"})
    assert missing.status_code == 404
    assert missing.get_json()["error"]["message"].startswith("Unknown route")
