"""Text from a request is made fit for its column before it is stored (``balancer.models.fit``)."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from balancer.models import KeyEvent, KeyModelState, RequestLog, UsageBucket
from balancer.models.fit import fit, limit_of, shortest
from balancer.text import clean, quoted

LONG = "m" * 300


@pytest.mark.parametrize("text, limit, expected", [
    ("gemini-2.5-flash", 128, "gemini-2.5-flash"),
    ("a\x00b\x00", None, "ab"),
    ("\x00" * 5, 10, ""),
    ("x\ud800y", None, "x\ufffdy"),
    ("\udfff\ud83d", None, "\ufffd\ufffd"),
    ("émoji 😀 stays", None, "émoji 😀 stays"),
    (LONG, 128, "m" * 128),
    ("m" * 129, 128, "m" * 128),
    # NULs go before the cut: what is kept is as long as the column allows.
    ("\x00" * 10 + "m" * 130, 128, "m" * 128),
    ("\ud800" * 200, 64, "\ufffd" * 64),
    ("short", None, "short"),
])
def test_clean(text, limit, expected):
    assert clean(text, limit) == expected
    expected.encode("utf-8")  # what is kept can be sent to any database


@pytest.mark.parametrize("column, length", [
    (RequestLog.__table__.c.model, 128),
    (RequestLog.__table__.c.route, 64),
    (RequestLog.__table__.c.error_message, 1000),
    (KeyEvent.__table__.c.reason, 512),
    (KeyModelState.__table__.c.reason, 64),
    (RequestLog.__table__.c.status, None),
])
def test_lengths_come_from_the_models(column, length):
    assert limit_of(column) == length


def test_fit_cleans_and_cuts_for_the_column_and_leaves_none_and_numbers_alone():
    assert fit(RequestLog.__table__.c.model, None) is None
    assert fit(RequestLog.__table__.c.status, 200) == 200
    assert fit(KeyEvent.__table__.c.reason, "r\ud800\x00" * 400) == "r\ufffd" * 256
    assert fit(KeyEvent.__table__.c.model, "\x00" + LONG) == "m" * 128
    assert shortest([RequestLog.__table__.c.route, UsageBucket.__table__.c.model,
                     RequestLog.__table__.c.status]) == 64


@pytest.mark.parametrize("text, expected", [
    ("gemini-2.5-flash", '"gemini-2.5-flash"'),
    ("a\nb", '"a\\nb"'),
    ("<b>\x00", '"<b>"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("x" * 100, json.dumps("x" * 80 + "…", ensure_ascii=False)),
    ("\ud800", '"\ufffd"'),
])
def test_quoted_client_text_for_messages(text, expected):
    assert quoted(text) == expected
