"""Encryption at rest, masking and fingerprints of upstream keys."""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Optional

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from balancer.keyshapes import clean


class SecretBox:
    """Encrypts and decrypts stored secrets with Fernet.

    The key is ``ENCRYPTION_KEY`` when set (a Fernet key), else derived from
    ``SECRET_KEY`` with HKDF, so a default install needs no extra variable.
    Older keys (``ENCRYPTION_OLD_KEYS``, and the SECRET_KEY-derived one once an
    ENCRYPTION_KEY is set) still decrypt values written before a rotation;
    ``rotate`` rewrites such a value under the current key.
    """

    def __init__(self, secret_key: str, encryption_key: Optional[str] = None,
                 old_keys: tuple[str, ...] = ()):
        derived = Fernet(derive_key(secret_key))
        primary = Fernet(encryption_key.encode()) if encryption_key else derived
        older = [Fernet(k.encode()) for k in old_keys]
        if encryption_key:
            older.append(derived)
        self._fernet = MultiFernet([primary, *older])
        self._primary = primary

    def encrypt(self, plain: str) -> str:
        """Return the token to store."""
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Return the plain secret; raises ``ValueError`` without echoing anything."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("stored secret cannot be decrypted with the configured key") from None


    def is_current(self, token: str) -> bool:
        """Whether ``token`` is encrypted under the current key (no rotation needed)."""
        try:
            self._primary.decrypt(token.encode())
            return True
        except InvalidToken:
            return False

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted under the current key; ValueError if no key opens it."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise ValueError("stored secret cannot be decrypted with the configured keys") from None


def derive_key(secret_key: str) -> bytes:
    """A Fernet key derived from SECRET_KEY (stable across restarts)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"balancer-upstream-keys",
               info=b"fernet").derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


def fingerprint(secret: str) -> str:
    """SHA-256 hex of a secret: de-duplicates keys without storing them twice.

    API keys are long random strings, so a plain hash reveals nothing useful and
    stays valid when SECRET_KEY changes. Spaces, quotes and commas a paste puts
    around a key are not part of it: ``"AQ.…",`` and ``AQ.…`` are one key.
    """
    return hashlib.sha256(clean(secret).encode()).hexdigest()


#: from this length on a mask shows seven characters, about a third of the secret at most.
_MASK_FULL_FROM = 20


def mask(secret: str) -> str:
    """Show a secret as its first four and last three characters: ``AIza…9xQ``, ``AQ.A…x9Q``.

    A shorter secret shows its last two characters at most (five to nineteen characters) or
    nothing, so no mask ever reveals most of what it hides.
    """
    secret = clean(secret)
    if len(secret) < _MASK_FULL_FROM:
        return "…" + secret[-2:] if len(secret) > 4 else "…"
    return f"{secret[:4]}…{secret[-3:]}"


def token_hash(token: str) -> str:
    """Hash of a client token as stored (tokens are random; SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def owner_tag(secret_key: str, digest: str) -> str:
    """Who owns a file or cache: a keyed hash of a client token's ``token_hash``.

    Stored on the owner rows so that each token, managed or from the environment,
    is told apart without the token (nor a plain hash of a short one people chose)
    in the database. A new token, even one that gets a revoked token's id, has
    another tag.
    """
    return hmac.new(secret_key.encode(), b"resource-owner:" + digest.encode(),
                    hashlib.sha256).hexdigest()[:32]
