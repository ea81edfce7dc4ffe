"""Admin sign-in state in the database, so that every worker sees the same.

Failed sign-ins (``balancer.admin.throttle`` decides what they mean) and the
session version: a session is valid only while it carries the current
version, and signing out raises it, so a copied session cookie stops working.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import AdminSession, SigninFailure
from balancer.models.types import utcnow

_ROW = 1  # the one admin_session row


def _address(address: str) -> str:
    return (address or "unknown")[:64]


def failures(address: str, seconds: float) -> tuple[list[float], list[float]]:
    """The failure times (epoch seconds) of the last ``seconds``: ``address``'s, everyone's."""
    since = utcnow() - timedelta(seconds=seconds)
    rows = db.session.execute(sa.select(SigninFailure.address, SigninFailure.created_at)
                              .where(SigninFailure.created_at > since)).all()
    mine = [at.timestamp() for who, at in rows if who == _address(address)]
    return mine, [at.timestamp() for _, at in rows]


def failed(address: str, keep_seconds: float) -> None:
    """Count a failed sign-in, and forget the ones older than ``keep_seconds``."""
    now = utcnow()
    db.session.execute(sa.delete(SigninFailure).where(
        SigninFailure.created_at < now - timedelta(seconds=keep_seconds)))
    db.session.add(SigninFailure(address=_address(address), created_at=now))
    db.session.commit()


def succeeded(address: str) -> None:
    """A good sign-in clears its address's failures (not the others')."""
    db.session.execute(sa.delete(SigninFailure).where(SigninFailure.address == _address(address)))
    db.session.commit()


def session_version() -> int:
    """The version a valid admin session carries."""
    version: Optional[int] = db.session.scalar(
        sa.select(AdminSession.version).where(AdminSession.id == _ROW))
    return version or 0


def end_sessions() -> None:
    """Raise the version: every session signed in so far is no longer valid."""
    done = db.session.execute(sa.update(AdminSession).where(AdminSession.id == _ROW)
                              .values(version=AdminSession.version + 1)).rowcount
    if not done:
        try:
            db.session.add(AdminSession(id=_ROW, version=1))
            db.session.commit()
            return
        except sa.exc.IntegrityError:
            # Another worker made the row meanwhile: raise its version instead.
            db.session.rollback()
            db.session.execute(sa.update(AdminSession).where(AdminSession.id == _ROW)
                               .values(version=AdminSession.version + 1))
    db.session.commit()
