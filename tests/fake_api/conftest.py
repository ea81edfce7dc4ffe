"""Fixtures of the fake upstream's own tests: one fake per module, reset after each test."""
from __future__ import annotations

import itertools

import pytest

from tests.fake_upstream import FakeUpstream, make_key

_serial = itertools.count(1)


@pytest.fixture(scope="module")
def fake():
    """One fake for the module; state is reset after every test."""
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean(fake):
    yield
    fake.reset()


@pytest.fixture
def key():
    """A fresh standard key."""
    return make_key("fake-api", next(_serial))


@pytest.fixture
def auth_key():
    """A fresh auth key: ``AQ.`` and 40 characters of the URL-safe alphabet."""
    return "AQ." + make_key("auth", next(_serial))[4:] + "Ab_-Q"
