"""A small, bounded load client for live tests: a fixed number of requests at a fixed
concurrency, to 127.0.0.1 only, with a hard deadline.

It runs in its own process (``python -m tests.load``, gevent-patched), so that the test
process, and a fake upstream living in it, do not compete with 200 client greenlets for
one GIL. ``run_load(plan)`` starts it and returns what every request saw.

Each request is checked the way a user would check it: a 200 with the expected answer
text (the fake echoes the prompt), and for streams a proper ending (``data: [DONE]`` for
OpenAI, a ``finishReason`` for Gemini) with no error event on the way. Optionally, after
``switch.after`` requests have finished, one control call (``switch.url`` with
``switch.json``) is made while the rest of the traffic goes on: faults turn on mid-run.
"""
from __future__ import annotations

if __name__ == "__main__":  # before anything imports socket, ssl or threading
    from gevent import monkey

    monkey.patch_all()

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
MODEL = "gemini-2.5-flash"
#: the kinds of request the client can send.
KINDS = ("chat", "chat_stream", "native", "native_stream")


def run_load(plan: dict, timeout: float) -> dict:
    """Run ``plan`` in a subprocess; ``timeout`` seconds at most (then it is killed).

    ``plan``: ``base`` (Balancer's URL), ``token``, ``total``, ``concurrency``, ``kinds``
    (cycled through, request ``i`` is ``kinds[i % len(kinds)]``), optional ``switch``
    (``{"after": n, "url": ..., "json": ...}``), optional ``request_timeout`` (seconds)
    and ``deadline`` (seconds for the whole run, below ``timeout``).
    Returns ``{"results": [...], "switched_at": epoch or None, "elapsed": seconds}``
    (``switched_at``: when the switch was sent; no call met its faults before).
    """
    for url in [plan["base"]] + ([plan["switch"]["url"]] if plan.get("switch") else []):
        if urlsplit(url).hostname != "127.0.0.1":
            raise ValueError(f"load goes to 127.0.0.1 only, not {url}")
    out = subprocess.run([sys.executable, "-m", "tests.load"], cwd=ROOT, input=json.dumps(plan),
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"load client failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout)


# --- the client process -----------------------------------------------------------------

def _body(kind: str, marker: str) -> dict:
    if kind.startswith("chat"):
        body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": marker}]}
        if kind == "chat_stream":
            body["stream"] = True
        return body
    return {"contents": [{"role": "user", "parts": [{"text": marker}]}]}


def _url(base: str, kind: str) -> str:
    if kind.startswith("chat"):
        return f"{base}/v1/chat/completions"
    if kind == "native":
        return f"{base}/v1beta/models/{MODEL}:generateContent"
    return f"{base}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"


def _headers(kind: str, token: str) -> dict:
    if kind.startswith("chat"):
        return {"Authorization": f"Bearer {token}"}
    return {"x-goog-api-key": token}


def _sse_events(resp) -> list[str]:
    """The ``data:`` payloads of an SSE answer, in order."""
    events, data = [], []
    for raw in resp.iter_lines(decode_unicode=False):
        line = raw.decode("utf-8").rstrip("\r")
        if not line:
            if data:
                events.append("\n".join(data))
                data = []
            continue
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        events.append("\n".join(data))
    return events


def _gemini_text(obj: dict) -> tuple[str, Optional[str]]:
    cand = (obj.get("candidates") or [{}])[0]
    parts = (cand.get("content") or {}).get("parts") or []
    return "".join(p.get("text", "") for p in parts), cand.get("finishReason")


def check(kind: str, resp, marker: str) -> Optional[str]:
    """What is wrong with this answer, as a user would see it; None when it is right."""
    if resp.status_code != 200:
        return f"status {resp.status_code}: {resp.text[:300]}"
    if kind == "chat":
        data = resp.json()
        text = data["choices"][0]["message"]["content"] or ""
        return None if marker in text else f"answer without the prompt: {text[:200]!r}"
    if kind == "native":
        text, finish = _gemini_text(resp.json())
        if marker not in text or finish != "STOP":
            return f"answer {text[:200]!r}, finishReason {finish}"
        return None
    events = _sse_events(resp)
    if not events:
        return "a stream with no events"
    text, finished = "", False
    for event in events:
        if event == "[DONE]":
            continue
        obj = json.loads(event)
        if isinstance(obj, list) or "error" in obj:
            return f"error event in the stream: {event[:300]}"
        if kind == "chat_stream":
            for choice in obj.get("choices") or []:
                text += (choice.get("delta") or {}).get("content") or ""
                finished = finished or bool(choice.get("finish_reason"))
        else:
            piece, finish = _gemini_text(obj)
            text += piece
            finished = finished or finish == "STOP"
    if kind == "chat_stream" and events[-1] != "[DONE]":
        return f"stream not ended by [DONE]: last event {events[-1][:200]!r}"
    if not finished:
        return "stream without a finish reason"
    if marker not in text:
        return f"stream without the prompt: {text[:200]!r}"
    return None


def _main() -> None:
    import gevent
    import gevent.lock
    import requests

    plan = json.loads(sys.stdin.read())
    base, token, total = plan["base"].rstrip("/"), plan["token"], int(plan["total"])
    kinds = plan.get("kinds") or list(KINDS)
    timeout = plan.get("request_timeout", 60)
    switch = plan.get("switch")
    results: list[Optional[dict]] = [None] * total
    state = {"next": 0, "done": 0, "switched_at": None}
    switching = gevent.lock.Semaphore()

    def one(session: requests.Session, i: int) -> dict:
        kind = kinds[i % len(kinds)]
        marker = f"fault-suite request {i}"
        started = time.time()
        row = {"i": i, "kind": kind, "status": None, "problem": None, "attempts": None,
               "key": None, "started": started}
        try:
            with session.post(_url(base, kind), json=_body(kind, marker),
                              headers=_headers(kind, token), timeout=(5, timeout),
                              stream=kind.endswith("stream")) as resp:
                row["status"] = resp.status_code
                row["attempts"] = resp.headers.get("x-balancer-attempts")
                row["key"] = resp.headers.get("x-balancer-key")
                row["problem"] = check(kind, resp, marker)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding, reported
            row["problem"] = f"{type(exc).__name__}: {exc}"
        row["ended"] = time.time()
        return row

    def worker() -> None:
        session = requests.Session()
        while state["next"] < total:
            i = state["next"]
            state["next"] += 1
            results[i] = one(session, i)
            state["done"] += 1
            if switch and state["switched_at"] is None and state["done"] >= switch["after"]:
                with switching:
                    if state["switched_at"] is None:
                        # Stamped as it is sent: a call may meet the faults before the
                        # answer to this one is back (and an invalid key meets them once).
                        sent = time.time()
                        requests.post(switch["url"], json=switch["json"], timeout=10).raise_for_status()
                        state["switched_at"] = sent
        session.close()

    began = time.time()
    greenlets = [gevent.spawn(worker) for _ in range(int(plan["concurrency"]))]
    gevent.joinall(greenlets, timeout=plan.get("deadline", 150))
    gevent.killall(greenlets, timeout=5)
    for i, row in enumerate(results):
        if row is None:
            results[i] = {"i": i, "kind": kinds[i % len(kinds)], "status": None, "attempts": None,
                          "key": None, "problem": "not sent or not finished by the deadline"}
    json.dump({"results": results, "switched_at": state["switched_at"],
               "elapsed": time.time() - began}, sys.stdout)


if __name__ == "__main__":
    _main()
