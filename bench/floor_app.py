"""The floor of Balancer's stack: the plainest proxy gunicorn, gevent, Flask and
``requests`` make, for ``targets_bench.py`` to measure beside Balancer.

One view: read the body, send it to ``FLOOR_UPSTREAM`` with a ``requests`` session, send
the answer back (a stream relayed as it comes, then the ``[DONE]`` line an OpenAI stream
ends with). No keys, no translation, no records: what Balancer costs above this is its own.
"""
from __future__ import annotations

import os

import requests
from flask import Flask, Response, request

app = Flask(__name__)
UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "")
session = requests.Session()
session.trust_env = False


@app.post("/v1/chat/completions")
def chat() -> Response:
    body = request.get_data()
    stream = b'"stream":true' in body
    url = f"{UPSTREAM}:{'streamGenerateContent?alt=sse' if stream else 'generateContent'}"
    resp = session.post(url, data=body, headers={"Content-Type": "application/json"},
                        stream=True, timeout=(5, 60))
    if not stream:
        return Response(resp.content, status=resp.status_code, mimetype="application/json")

    def relay():
        with resp:
            yield from resp.iter_content(chunk_size=None)
        yield b"data: [DONE]\n\n"
    return Response(relay(), mimetype="text/event-stream")
