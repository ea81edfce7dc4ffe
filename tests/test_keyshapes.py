"""Key shapes: which keys each pool kind takes, reading pasted text, masks and redaction."""
from __future__ import annotations

import io
import logging
import re

import pytest

from balancer import keyshapes
from balancer.crypto import fingerprint, mask
from balancer.keyshapes import (GEMINI, OPENAI, MalformedKey, check_key, check_keys,
                                find_keys)
from balancer.logs import RedactingFilter
from balancer.upstream.sanitize import redact
from tests.fake_upstream import make_key

AQ = make_key("shape", 0, kind="auth")
AQ2 = make_key("shape", 1, kind="auth")
AIZA = make_key("shape", 2)
#: a plausible secret of no known shape (as a new kind of Google key might be).
ODD = "gk1.Zq8Vn2Lw5Xr7Kp3Ty9Bm4Hc6"

OPENAI_KINDS = ("openai", "project", "svcacct", "openrouter", "anthropic", "xai", "groq",
                "cerebras", "mistral", "together")


# --- which shapes each kind knows ------------------------------------------------------

@pytest.mark.parametrize("key, name", [
    (AIZA, "standard Gemini key"),
    (AQ, "Gemini auth key"),
    ("AQ." + "Ab8RN6" + "x" * 14, "Gemini auth key"),  # the shortest: AQ. + 20
    ("AQ.Ab8RN6-_" + "z9" * 40, "Gemini auth key"),    # no upper bound
])
def test_gemini_pools_know_standard_and_auth_keys(key, name):
    checked = check_key(key, GEMINI)
    assert checked.known and checked.shape.name == name and checked.key == key


@pytest.mark.parametrize("kind", OPENAI_KINDS)
def test_openai_pools_know_every_compatible_providers_keys(kind):
    key = make_key("shape", 3, kind=kind)
    checked = check_key(key, OPENAI)
    assert checked.known and checked.key == key


@pytest.mark.parametrize("key", [AIZA, AQ])
def test_openai_pools_know_googles_keys_for_its_openai_layer(key):
    assert check_key(key, OPENAI).known


def test_an_auth_key_on_an_openai_pool_carries_a_caution():
    assert "refuse auth keys" in check_key(AQ, OPENAI).shape.caution
    assert check_key(AQ, GEMINI).shape.caution == ""


@pytest.mark.parametrize("kind, key", [
    (GEMINI, ODD),
    (GEMINI, make_key("shape", 4, openai=True)),  # another provider's key: taken, with a warning
    (GEMINI, "AQ.Ab8RN6LmZx.QyT0pW3vK9sDf2Gh7Jk1"),  # an auth key with a dot inside
    (OPENAI, ODD),
    (OPENAI, "nvapi-Zq8Vn2Lw5Xr7Kp3Ty9Bm4Hc6"),
    (OPENAI, "0123456789abcdef" * 5),  # 80 hex: longer than any bare key we know
])
def test_a_plausible_key_of_an_unknown_shape_is_taken_without_a_shape(kind, key):
    checked = check_key(key, kind)
    assert checked.key == key and not checked.known and checked.shape is None


@pytest.mark.parametrize("kind, raw, why", [
    (GEMINI, "AIza" + "x" * 20, "starts like a standard Gemini key"),
    (GEMINI, AIZA + "Q", "starts like a standard Gemini key"),
    (GEMINI, "AQ.Ab8RN6Lm", "too short: Gemini auth keys are AQ. followed by 20"),
    (GEMINI, "not-a-key", "too short"),
    (GEMINI, "my gemini key", "contains spaces"),
    (GEMINI, "https://aistudio.google.com/apikey", "a URL"),
    (GEMINI, "generativelanguage.googleapis.com", "a host or file name"),
    (GEMINI, "gemini-keys-backup-2026.txt", "a host or file name"),
    (GEMINI, "task-force-internationalization", "a word"),
    (GEMINI, "Internationalization-Committee", "a word"),
    (GEMINI, "GEMINI_API_KEYS_SECONDARY", "a word"),
    (GEMINI, "AIza=Zq8Vn2Lw5Xr7Kp3Ty9Bm4Hc6", "starts like a standard Gemini key"),
    (GEMINI, "key=Zq8Vn2Lw5Xr7Kp3Ty9Bm4Hc6", "has characters keys do not have"),
    (OPENAI, "sk-Zq8Vn2Lw5Xr7", "too short: OpenAI-style keys are sk- followed by 20"),
    (OPENAI, "gsk_abc123", "too short: Groq keys are gsk_ followed by 20"),
    (OPENAI, "Zq8Vn2Lw5Xr7Kp3", "too short"),
    (OPENAI, "pneumonoultramicroscopicsilicovolcanoconiosis", "a word"),
    (OPENAI, "https://api.groq.com/openai/v1", "a URL"),
])
def test_what_cannot_be_a_key_is_malformed_and_never_echoed(kind, raw, why):
    with pytest.raises(MalformedKey) as err:
        check_key(raw, kind)
    assert why in str(err.value)
    assert raw not in str(err.value)


@pytest.mark.parametrize("raw", [f"  {AQ}\n", f'"{AQ}"', f"'{AQ}',", f"[{AQ}]", f"`{AQ}`;"])
def test_quotes_and_spaces_around_a_key_are_not_part_of_it(raw):
    assert check_key(raw, GEMINI).key == AQ
    assert fingerprint(raw) == fingerprint(AQ)
    assert mask(raw) == mask(AQ)


def test_unknown_kinds_are_an_error():
    with pytest.raises(ValueError, match="unknown pool kind 'vertex'"):
        check_key(AQ, "vertex")


def test_the_warning_names_both_gemini_kinds():
    assert keyshapes.unknown_shape_warning(GEMINI) == (
        "does not look like a standard (AIza…) or auth (AQ.…) Gemini key; added anyway, check it")
    assert "added anyway, check it" in keyshapes.unknown_shape_warning(OPENAI)


# --- reading pasted text ---------------------------------------------------------------

def test_gemini_prose_gives_its_known_keys_and_no_words():
    text = (f"prod key: {AIZA}\n"
            f"new one from AI Studio ({AQ}).\n"
            f"GEMINI_API_KEYS={AQ2},{AIZA}\n"
            "an Internationalization-Committee note, nothing else\n"
            "old: AIzaTOO-SHORT and a cut one AQ.Ab8RN6...\n")
    found = find_keys(text, GEMINI)
    assert found.secrets == [AIZA, AQ, AQ2]
    assert all(k.known for k in found.keys)
    assert (found.malformed, found.repeats) == (2, 1)


def test_a_gemini_line_holding_only_keys_takes_each_whatever_its_shape():
    odd2, odd3 = ODD.replace("gk1", "gk2"), ODD.replace("gk1", "gk3")
    text = (f'{ODD}\n  "{AQ}",\n{AQ}\n{AIZA} {ODD}\nAQ.Ab8RN6-short\n'
            f"GEMINI_KEY_2={odd2}\nbackup: {odd3}\n")
    found = find_keys(text, GEMINI)
    assert found.secrets == [ODD, AQ, AIZA, odd2, odd3]
    assert found.unknown == 3 and found.repeats == 2 and found.malformed == 1


def test_gemini_prose_takes_known_shapes_only():
    # In a sentence a token of no known shape is not taken, nor counted.
    found = find_keys(f"the new key is {ODD} I think", GEMINI)
    assert (found.secrets, found.malformed) == ([], 0)


def test_openai_text_is_read_token_by_token():
    keys = {kind: make_key("paste", 0, kind=kind) for kind in OPENAI_KINDS}
    text = ("# our providers; comment words are not counted\n"
            f"{keys['openai']}  {keys['project']}\n"
            f"OPENROUTER_API_KEY={keys['openrouter']}\n"
            f"'{keys['xai']}', \"{keys['groq']}\"\n"
            f"cerebras: {keys['cerebras']}\n{keys['mistral']}\n{keys['together']}\n{keys['anthropic']}\n"
            f"{keys['svcacct']}\n"
            f'{{"api_key": "{keys["openai"]}"}}\n'
            f"{ODD}\n"
            "mistral https://api.mistral.ai/v1 sk-short\n")
    found = find_keys(text, OPENAI)
    assert found.secrets == [keys[k] for k in ("openai", "project", "openrouter", "xai", "groq",
                                               "cerebras", "mistral", "together", "anthropic",
                                               "svcacct")] + [ODD]
    assert found.unknown == 1
    # '{"api_key":' is not a key; the key after it is a repeat. Then a word, a URL, a cut key.
    assert (found.malformed, found.repeats) == (4, 1)


def test_a_comment_line_gives_its_known_keys():
    found = find_keys(f"# old: {make_key('c', 0, kind='groq')} (revoked?)", OPENAI)
    assert found.secrets == [make_key("c", 0, kind="groq")] and found.malformed == 0


def test_keys_given_one_by_one_are_each_a_key():
    found = check_keys([AQ, f"{AIZA},{ODD}", f" {AQ} ", "typo", "AIzaShort"], GEMINI)
    assert found.secrets == [AQ, AIZA, ODD]
    assert (found.unknown, found.repeats, found.malformed) == (1, 1, 2)


# --- masks -----------------------------------------------------------------------------

@pytest.mark.parametrize("key, shown", [
    (AQ, f"{AQ[:4]}…{AQ[-3:]}"),
    ("AQ.Ab8RN6LmZx_QyT0pWx9Q", "AQ.A…x9Q"),
    (AIZA, f"AIza…{AIZA[-3:]}"),
    (make_key("m", 0, kind="project"), f"sk-p…{make_key('m', 0, kind='project')[-3:]}"),
    ("Zq8Vn2Lw5Xr7Kp3Ty9Bm", "Zq8V…9Bm"),  # 20: seven shown
    ("Zq8Vn2Lw5Xr7Kp3Ty9B", "…9B"),       # 19: two shown
    ("abcdefghijkl", "…kl"),              # 12
    ("short", "…rt"),
    ("abcd", "…"),
    ("", "…"),
])
def test_masks(key, shown):
    assert mask(key) == shown


@pytest.mark.parametrize("length", range(60))
def test_no_mask_shows_more_than_a_third_of_a_key_or_most_of_a_short_one(length):
    key = "".join(chr(ord("a") + i % 26) for i in range(length))
    visible = len(mask(key).replace("…", ""))
    assert visible <= max(2, length * 0.35)
    assert visible * 2 < length or visible == 0


# --- redaction -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (f"Consumer 'api_key:{AQ}' has been suspended.", "Consumer 'api_key:AQ.…' has been suspended."),
    ("Consumer 'api_key:AQ.Ab8RN6...' has been suspended.",
     "Consumer 'api_key:AQ.…' has been suspended."),
    ("key AQ.Ab8R***x9Q refused", "key AQ.… refused"),
    ("shown as AQ.A…x9Q", "shown as AQ.…"),
    (f"ends with {AQ}.", "ends with AQ.….") ,
    ("AQ.Ab8RN6.second-part.x9Q here", "AQ.… here"),
    ("in IRAQ. Next, AQ. and AQ.x", "in IRAQ. Next, AQ. and AQ.x"),
    (f"xai {make_key('r', 0, kind='xai')} and csk {make_key('r', 0, kind='cerebras')}",
     "xai xai-… and csk csk-…"),
    (f"{make_key('r', 0, kind='openrouter')} {make_key('r', 0, kind='project')}", "sk-… sk-…"),
    (f"{make_key('r', 0, kind='anthropic')} {make_key('r', 0, kind='svcacct')}", "sk-… sk-…"),
    ("task-force, risk-free, desk-top", "task-force, risk-free, desk-top"),
    ("request 0123456789abcdef0123456789abcdef failed", "request 0123456789abcdef0123456789abcdef failed"),
])
def test_redact_new_key_shapes(text, expected):
    assert redact(text) == expected


def test_redact_removes_a_known_key_of_any_shape_by_value():
    bare = make_key("r", 1, kind="mistral")
    assert redact(f"key {bare} refused", [bare]) == "key [redacted] refused"
    assert redact(f"key {ODD} refused", [f' "{ODD}" ']) == "key [redacted] refused"
    assert redact(f"key {AQ} refused", [AQ]) == "key AQ.… refused"


def test_log_lines_and_tracebacks_lose_auth_keys():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("balancer.test_keyshapes")
    logger.addHandler(handler)
    try:
        logger.warning("upstream said %s", f"api_key:{AQ}")
        try:
            raise RuntimeError(f"call with {AQ2} failed")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "api_key:AQ.…" in out and "call with AQ.… failed" in out
    assert AQ not in out and AQ2 not in out
    assert not re.search(r"AQ\.[0-9A-Za-z_-]{8}", out)
