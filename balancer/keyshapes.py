"""Which API keys each pool kind takes: their shapes, finding them in text, checking one.

Every place a key enters Balancer (``GEMINI_API_KEYS``, the admin paste box and file import,
``flask keys add|import``) asks this module, so one rule holds everywhere:

- A key of a known shape of the pool's kind is taken (:data:`GEMINI_SHAPES`,
  :data:`OPENAI_SHAPES`).
- A key given explicitly (one entry of ``GEMINI_API_KEYS``, one argument of ``flask keys add``,
  a pasted line or token standing alone) that has no known shape but is a plausible secret
  (20 or more of ``[0-9A-Za-z._-]``, not a word, a URL, a host or a file name) is taken too,
  with :func:`unknown_shape_warning`. Key formats change (Google moved to auth keys), and
  refusing a working key costs more than a warning.
- What was meant as a key and cannot be one is *malformed*: counted, never echoed, since it may
  be a real key with a typo.
- Pasted text is read line by line; labels ("groq:") and names ("NAME=") before a key are
  dropped. Gemini pools read prose too (a log, a message): a line that is not only keys is
  searched for the known shapes only, so no word is ever taken for a key. OpenAI-kind pools
  read one key per whitespace-separated token, and each token that cannot be a key is
  malformed (but for ``#`` comment lines, searched for known shapes only).

Pure: no Flask, no I/O, no logging.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

GEMINI = "gemini"
OPENAI = "openai"
#: Vertex AI express-mode keys are Google Cloud API keys: the same shapes as Gemini's.
VERTEX_EXPRESS = "vertex_express"

#: keys of an unknown shape are taken from this length on; shorter is malformed.
MIN_SECRET_LEN = 20


@dataclass(frozen=True)
class KeyShape:
    """One family of keys: who issues it, its prefix and its full pattern."""

    #: for people: "Gemini auth key".
    name: str
    #: what the key starts with; "" for keys without a prefix.
    prefix: str
    #: the whole key, for ``fullmatch``.
    pattern: re.Pattern[str]
    #: the pattern in words, for messages: "AQ. followed by 20 or more characters".
    rule: str
    #: only this length exists: a key with the prefix and another length is mistyped or cut.
    exact: bool = False
    #: fewer characters after the prefix than this: cut, hence malformed.
    min_body: int = 0
    #: a word of caution shown when such a key is added to a pool of this kind.
    caution: str = ""


_B64 = "[0-9A-Za-z_-]"

GEMINI_STANDARD = KeyShape(
    "standard Gemini key", "AIza", re.compile(rf"AIza{_B64}{{35}}"),
    "AIza followed by 35 characters", exact=True)
GEMINI_AUTH = KeyShape(
    "Gemini auth key", "AQ.", re.compile(rf"AQ\.{_B64}{{20,}}"),
    "AQ. followed by 20 or more characters", min_body=20)

#: Google AI Studio issues auth keys now; standard keys are on their way out.
GEMINI_SHAPES: tuple[KeyShape, ...] = (GEMINI_STANDARD, GEMINI_AUTH)

#: Every OpenAI-compatible provider's keys. ``sk-`` covers OpenAI (``sk-proj-``,
#: ``sk-svcacct-``), OpenRouter (``sk-or-v1-``), Anthropic (``sk-ant-``), DeepSeek and others;
#: bare keys are Mistral's (32) and Together's (64); Google's own keys serve its OpenAI layer.
OPENAI_SHAPES: tuple[KeyShape, ...] = (
    KeyShape("OpenAI-style key", "sk-", re.compile(rf"sk-{_B64}{{20,}}"),
             "sk- followed by 20 or more characters", min_body=20),
    KeyShape("xAI key", "xai-", re.compile(r"xai-[0-9A-Za-z]{20,}"),
             "xai- followed by 20 or more letters and digits", min_body=20),
    KeyShape("Groq key", "gsk_", re.compile(r"gsk_[0-9A-Za-z]{20,}"),
             "gsk_ followed by 20 or more letters and digits", min_body=20),
    KeyShape("Cerebras key", "csk-", re.compile(r"csk-[0-9A-Za-z]{20,}"),
             "csk- followed by 20 or more letters and digits", min_body=20),
    GEMINI_STANDARD,
    KeyShape(GEMINI_AUTH.name, GEMINI_AUTH.prefix, GEMINI_AUTH.pattern, GEMINI_AUTH.rule,
             min_body=GEMINI_AUTH.min_body,
             caution="Google's OpenAI-compatible layer is reported to refuse auth keys (AQ.…); "
                     "a gemini pool takes them"),
    KeyShape("bare key (Mistral, Together…)", "", re.compile(r"[0-9A-Za-z]{32,64}"),
             "32 to 64 letters and digits"),
)

_SHAPES = {GEMINI: GEMINI_SHAPES, OPENAI: OPENAI_SHAPES}

_UNKNOWN = {
    GEMINI: "does not look like a standard (AIza…) or auth (AQ.…) Gemini key; added anyway, "
            "check it",
    OPENAI: "does not look like a key of a known OpenAI-compatible provider (sk-…, xai-…, "
            "gsk_…, csk-…, AIza…, or 32 to 64 letters and digits); added anyway, check it",
}

#: Prefixes of every known family, longest first: what a redacted key may keep.
FAMILY_PREFIXES: tuple[str, ...] = tuple(sorted(
    {s.prefix for shapes in _SHAPES.values() for s in shapes if s.prefix}, key=len, reverse=True))

# What surrounds a key in a paste and is never part of one.
_WRAPPING = " \t\r\n\"'`,;|()[]{}<>"
_SPLIT_RE = re.compile(r"[\s,;|]+")
_SECRET_CHARS_RE = re.compile(r"[0-9A-Za-z._-]+")
# "example.com", "keys-2024.txt": a host or file name, all lower case, not a key.
_HOST_OR_FILE_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.[a-z]{2,6}")
# "Internationalization", "CamelCaseName", "task-force": words, in lower or capitalised case.
# Each repeat starts with a separator or a capital, so a failed match never backtracks far.
_WORDS_RE = re.compile(r"[A-Z]?[a-z]+(?:(?:[._-][A-Z]?|[A-Z])[a-z]+)*")
# "NAME=value" in a .env file, "name:value": the value is the token.
_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*[=:](?=.)")
# "groq:", "api_key:" before a key on the same line: a label, not a try at a key.
_LABEL_RE = re.compile(r"[A-Za-z_][0-9A-Za-z_.-]*[=:]")


class MalformedKey(ValueError):
    """Something meant as a key that cannot be one; the message never holds the value."""


@dataclass(frozen=True)
class CheckedKey:
    """A key as it will be stored, and its shape (None: unknown, taken with a warning)."""

    key: str
    shape: Optional[KeyShape]

    @property
    def known(self) -> bool:
        """Whether the key has a known shape of its pool's kind."""
        return self.shape is not None


@dataclass
class FoundKeys:
    """Keys read from a text or a list, in order, each once; and what could not be a key."""

    keys: list[CheckedKey] = field(default_factory=list)
    #: what was meant as a key and cannot be one.
    malformed: int = 0
    #: further copies of a key already found (with or without quotes or spaces around).
    repeats: int = 0
    _seen: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    @property
    def secrets(self) -> list[str]:
        """The keys themselves, each once."""
        return [k.key for k in self.keys]

    @property
    def unknown(self) -> int:
        """How many keys are of no known shape."""
        return sum(not k.known for k in self.keys)

    def take(self, checked: CheckedKey) -> None:
        """Add a key, or count it as a repeat when it was found before."""
        if checked.key in self._seen:
            self.repeats += 1
        else:
            self._seen.add(checked.key)
            self.keys.append(checked)


def shapes(kind: str) -> tuple[KeyShape, ...]:
    """The known key shapes of a pool kind (``gemini`` or ``openai``); ValueError otherwise."""
    try:
        return _SHAPES[family(kind)]
    except KeyError:
        raise ValueError(f"unknown pool kind {kind!r}") from None


def unknown_shape_warning(kind: str) -> str:
    """What to tell an operator who added a key of no known shape to a pool of ``kind``."""
    shapes(kind)
    return _UNKNOWN[family(kind)]


def family(kind: str) -> str:
    """The kind whose keys a pool of ``kind`` takes (express-mode keys are Google's)."""
    return GEMINI if kind == VERTEX_EXPRESS else kind


def family_prefix(secret: str) -> Optional[str]:
    """The known prefix a secret starts with (``AQ.``, ``sk-``…), or None."""
    return next((p for p in FAMILY_PREFIXES if secret.startswith(p)), None)


def clean(raw: str) -> str:
    """A key without what a paste puts around it: spaces, quotes, brackets, commas."""
    return raw.strip(_WRAPPING)


def check_key(raw: str, kind: str) -> CheckedKey:
    """Check one key given explicitly for a pool of ``kind``.

    :returns: the cleaned key and its shape, or shape None for a plausible key of no known
        shape (to be added with :func:`unknown_shape_warning`).
    :raises MalformedKey: it cannot be a key; the message says why, never what.
    """
    key = clean(raw)
    known = shapes(kind)
    for shape in known:
        # A bare shape has no prefix to vouch for it: it must look random as well.
        if shape.pattern.fullmatch(key) and (shape.prefix or _not_a_secret(key) is None):
            return CheckedKey(key, shape)
    for shape in known:
        if not shape.prefix or not key.startswith(shape.prefix):
            continue
        if shape.exact:
            raise MalformedKey(f"starts like a {shape.name} but is not {shape.rule}")
        if len(key) - len(shape.prefix) < shape.min_body:
            raise MalformedKey(f"too short: {shape.name}s are {shape.rule}")
    reason = _not_a_secret(key)
    if reason:
        raise MalformedKey(reason)
    return CheckedKey(key, None)


def check_keys(items: Iterable[str], kind: str) -> FoundKeys:
    """Keys given one by one (command-line arguments, a list): each item or token is a key."""
    found = FoundKeys()
    for item in items:
        for token in _tokens(item):
            _take_explicit(found, token, kind)
    return found


def find_keys(text: str, kind: str) -> FoundKeys:
    """Keys in pasted text or a file, read as the module docstring says for each kind."""
    shapes(kind)
    found = FoundKeys()
    for line in text.splitlines():
        if family(kind) == GEMINI:
            _read_gemini_line(found, line)
        else:
            _read_openai_line(found, line)
    return found


def _read_gemini_line(found: FoundKeys, line: str) -> None:
    tokens = list(_line_tokens(line))
    if tokens and all(family_prefix(t) or _not_a_secret(t) is None for t in tokens):
        # The line is nothing but keys: take each, whatever its shape.
        for token in tokens:
            _take_explicit(found, token, GEMINI)
        return
    # Prose: known shapes only; a known prefix on a broken key is malformed.
    for candidate in _candidates(line, GEMINI):
        try:
            checked = check_key(candidate, GEMINI)
        except MalformedKey:
            found.malformed += 1
            continue
        if checked.known:
            found.take(checked)
        else:
            found.malformed += 1


def _read_openai_line(found: FoundKeys, line: str) -> None:
    if line.lstrip().startswith("#"):
        # A comment: keys of a known shape in it are taken, its words are not counted.
        _take_known_inside(found, line)
        return
    for token in _line_tokens(line):
        try:
            found.take(check_key(token, OPENAI))
        except MalformedKey:
            # "https://…?key=sk-…", '"api_key":"sk-…"': a known key inside the token.
            if not _take_known_inside(found, token):
                found.malformed += 1


def _take_explicit(found: FoundKeys, token: str, kind: str) -> None:
    try:
        found.take(check_key(token, kind))
    except MalformedKey:
        found.malformed += 1


def _take_known_inside(found: FoundKeys, text: str) -> bool:
    took = False
    for candidate in _candidates(text, OPENAI):
        try:
            checked = check_key(candidate, OPENAI)
        except MalformedKey:
            continue
        if checked.known:
            found.take(checked)
            took = True
    return took


def _tokens(text: str) -> Iterator[str]:
    for part in _SPLIT_RE.split(text):
        token = clean(part)
        if token:
            yield token


def _line_tokens(line: str) -> Iterator[str]:
    """The tokens of a pasted line, without labels ("groq:") and names ("NAME=")."""
    for token in _tokens(line):
        if _LABEL_RE.fullmatch(token):
            continue
        token = clean(_ASSIGNMENT_RE.sub("", token))
        if token:
            yield token


_CANDIDATE_RES = {
    kind: re.compile(r"(?<![0-9A-Za-z])(?:" + "|".join(
        re.escape(p) for p in sorted({s.prefix for s in known if s.prefix}, key=len, reverse=True))
        + r")[0-9A-Za-z._-]*")
    for kind, known in _SHAPES.items()
}


def _candidates(text: str, kind: str) -> Iterator[str]:
    """Everything in ``text`` that starts with a known prefix of ``kind``."""
    for match in _CANDIDATE_RES[kind].finditer(text):
        # A full stop after a key ends the sentence; it is not part of the key.
        yield match.group(0).rstrip(".")


def _not_a_secret(token: str) -> Optional[str]:
    """Why ``token`` cannot be a key of an unknown shape, or None when it could be one."""
    if any(ch.isspace() for ch in token):
        return "contains spaces"
    if "://" in token or token.lower().startswith("www."):
        return "a URL, not a key"
    if not _SECRET_CHARS_RE.fullmatch(token):
        return "has characters keys do not have (only letters, digits, '.', '_' and '-')"
    if len(token) < MIN_SECRET_LEN:
        return f"too short for a key (under {MIN_SECRET_LEN} characters)"
    if _HOST_OR_FILE_RE.fullmatch(token):
        return "a host or file name, not a key"
    # Random keys mix lower case, upper case and digits; words and names use one of them.
    kinds = sum(any(test(ch) for ch in token) for test in (str.islower, str.isupper, str.isdigit))
    if kinds < 2 or _WORDS_RE.fullmatch(token):
        return "a word, not a key"
    return None
