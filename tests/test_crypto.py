"""Encryption at rest, masking and fingerprints."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from balancer.crypto import SecretBox, fingerprint, mask
from tests.fake_upstream import make_key


def test_a_secret_round_trips_and_is_not_stored_in_clear():
    key = make_key("crypto", 0)
    box = SecretBox("s" * 32)
    token = box.encrypt(key)
    assert key not in token
    assert box.decrypt(token) == key


def test_the_derived_key_is_stable_for_one_secret_and_differs_for_another():
    key = make_key("crypto", 1)
    token = SecretBox("a" * 32).encrypt(key)
    assert SecretBox("a" * 32).decrypt(token) == key
    with pytest.raises(ValueError) as err:
        SecretBox("b" * 32).decrypt(token)
    assert key not in str(err.value)


def test_an_explicit_encryption_key_wins_and_old_keys_still_decrypt():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox("x" * 32, old).encrypt("secret-value")
    assert SecretBox("x" * 32, new, old_keys=(old,)).decrypt(token) == "secret-value"


def test_mask_shows_four_and_three_characters():
    key = make_key("crypto", 2)
    assert mask(key) == f"{key[:4]}…{key[-3:]}"
    assert mask("short") == "…rt"


def test_fingerprint_ignores_surrounding_whitespace():
    key = make_key("crypto", 3)
    assert fingerprint(key) == fingerprint(f"  {key}\n")
    assert len(fingerprint(key)) == 64
