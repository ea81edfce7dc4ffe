"""One turn of the fake Gemini model: the request checked as Gemini checks it, then the answer.

Both the native API and the OpenAI-compatible layer (which first turns a chat request into a
native one) come here, so the two answer alike. ``respond`` returns an ``Answer`` or the
error envelope. The answer is deterministic (see README.md for the rules): function calls by
``functions.choose``, text quoting the function results after a function-response turn, else
the echo of the last user text, shaped by ``output.Output``; thought summaries first when
asked for; thought signatures from ``signatures.issue``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from . import catalogue, content, functions, schemas, signatures
from . import google_errors as gerr
from .google_errors import Envelope
from .output import read_output
from .thinking import read_thinking


@dataclass
class Answer:
    """What the model says: thoughts, then either function calls or text."""

    text: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    signature: Optional[str] = None  # on the first functionCall part, else on the text part
    prompt_tokens: int = 1
    answer_tokens: int = 1
    thought_tokens: int = 0
    query: str = ""  # the last user text (what a search would look for)

    def thought_parts(self) -> list[dict[str, Any]]:
        """``{"text": ..., "thought": true}`` parts, which come before the answer."""
        return [{"text": text, "thought": True} for text in self.thoughts]

    def call_parts(self) -> list[dict[str, Any]]:
        """One ``functionCall`` part per call; the first carries the signature."""
        parts = []
        for index, call in enumerate(self.calls):
            part: dict[str, Any] = {"functionCall": call}
            if index == 0 and self.signature:
                part["thoughtSignature"] = self.signature
            parts.append(part)
        return parts

    def text_part(self, text: Optional[str] = None, last: bool = True) -> dict[str, Any]:
        """A text part of the answer (``text`` defaults to all of it); the last one is signed."""
        part: dict[str, Any] = {"text": self.text if text is None else text}
        if last and self.signature:
            part["thoughtSignature"] = self.signature
        return part

    def parts(self) -> list[dict[str, Any]]:
        """All parts of a whole (non-streamed) answer."""
        return self.thought_parts() + (self.call_parts() if self.calls else [self.text_part()])


def prompt_texts(body: dict[str, Any]) -> tuple[list[str], str]:
    """All prompt texts (for token counts) and the last user text (for the echo)."""
    texts, last_user = [], ""
    system = schemas.field(body, "systemInstruction")
    if isinstance(system, dict):
        texts.append(content.text_of_parts(system.get("parts")))
    contents = body.get("contents")
    for turn in contents if isinstance(contents, list) else []:
        if not isinstance(turn, dict):
            continue
        text = content.text_of_parts(turn.get("parts"))
        texts.append(text)
        if turn.get("role", "user") == "user" and text:
            last_user = text
    return texts, last_user


def check_signatures(contents: list[Any]) -> Optional[Envelope]:
    """Gemini 3's check: the first call of each current-turn model step carries a signature."""
    for index, step in functions.current_steps(contents):
        part = functions.first_call_part(step)
        if part is None:
            continue
        signature = schemas.field(part, "thoughtSignature")
        if signature is None:
            name = schemas.field(part, "functionCall").get("name", "")
            return gerr.signature_missing(name, index + 1)
        if signatures.verdict(signature) == signatures.CORRUPTED:
            return gerr.invalid_argument("Corrupted thought signature.")
    return None


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def results_text(responses: list[dict[str, Any]]) -> str:
    """The answer after a function-response turn: each result, quoted."""
    quoted = [f"{r.get('name', '')} -> {_compact(r.get('response'))}" for r in responses]
    return "Function results: " + "; ".join(quoted)


def _call(declaration: functions.Declaration, with_id: bool) -> dict[str, Any]:
    args = schemas.instance(declaration.schema)
    call: dict[str, Any] = {
        "name": declaration.name,
        "args": args if isinstance(args, dict) else {},
    }
    if with_id:
        call["id"] = f"call_{content.serial():08d}"
    return call


def respond(model: dict[str, Any], body: dict[str, Any]) -> tuple[Answer, Optional[Envelope]]:
    """Check the request as Gemini does, then answer it (the Answer is empty on error)."""
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    tools, error = functions.read_tools(body)
    if error is None:
        output, error = read_output(body)
    if error is None:
        thinking, error = read_thinking(model, body)
    if error is None:
        error = functions.check_history(contents)
    if error is None and catalogue.enforces_signatures(model):
        error = check_signatures(contents)
    if error is not None:
        return Answer(), error
    texts, last_user = prompt_texts(body)
    answer = Answer(prompt_tokens=content.tokens(texts), query=last_user)
    answer.thought_tokens = thinking.tokens
    chosen = functions.choose(tools, contents)
    if chosen:
        answer.calls = [_call(d, catalogue.calls_have_ids(model)) for d in chosen]
        spoken = json.dumps([c["args"] for c in answer.calls])
    else:
        responses = functions.responses_of(contents[-1]) if contents else []
        if responses:
            plain = results_text(responses)
            answer.text = output.render(plain, plain)
        else:
            answer.text = output.render(last_user, content.echo(last_user))
        spoken = answer.text
    answer.answer_tokens = content.answer_tokens(spoken)
    if thinking.shown:
        answer.thoughts = [f"Thinking about: {functions.last_user_text(contents) or last_user}"]
    # Gemini 3 signs every answer; a thinking 2.5 model signs only its function calls.
    if catalogue.enforces_signatures(model) or (answer.calls and thinking.tokens):
        answer.signature = signatures.issue()
    return answer, None
