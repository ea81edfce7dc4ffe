"""Re-encrypting stored upstream keys (and pools' image host tokens) under the current
encryption key."""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, Pool
from balancer.runtime import Runtime

BATCH = 500


@dataclass
class RotateResult:
    """What ``rotate`` did, by key id where it matters."""

    rotated: int = 0
    current: int = 0
    #: ids of keys no configured key can decrypt (left as they are).
    unreadable: list[int] = field(default_factory=list)
    #: image host tokens of pools re-encrypted; names of pools whose token none opens.
    image_hosts: int = 0
    unreadable_hosts: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.rotated} re-encrypted, {self.current} already under the current key"
        if self.unreadable:
            text += (f", {len(self.unreadable)} unreadable with the configured keys "
                     f"(ids {', '.join(map(str, self.unreadable[:20]))}"
                     f"{', ...' if len(self.unreadable) > 20 else ''})")
        if self.image_hosts:
            text += f"; the image host tokens of {self.image_hosts} pools re-encrypted"
        if self.unreadable_hosts:
            text += (f"; the image host token of pool(s) {', '.join(self.unreadable_hosts)} "
                     "unreadable with the configured keys")
        return text


def rotate(rt: Runtime) -> RotateResult:
    """Re-encrypt every stored key under ENCRYPTION_KEY, in committed batches.

    Running workers are not disturbed: the plain keys they hold do not change,
    and ``updated_at`` is left alone so their sync loops do not reload the rows.
    A key no configured key can open is reported and kept as it is.
    """
    result = RotateResult()
    last_id = 0
    while True:
        rows = db.session.execute(
            sa.select(ApiKey.id, ApiKey.secret_encrypted).where(ApiKey.id > last_id)
            .order_by(ApiKey.id).limit(BATCH)).all()
        if not rows:
            _rotate_image_hosts(rt, result)
            return result
        for key_id, token in rows:
            if rt.box.is_current(token):
                result.current += 1
                continue
            try:
                fresh = rt.box.rotate(token)
            except ValueError:
                result.unreadable.append(key_id)
                continue
            # Compare-and-set: a key edited meanwhile keeps its newer value.
            done = db.session.execute(
                sa.update(ApiKey).where(ApiKey.id == key_id, ApiKey.secret_encrypted == token)
                .values(secret_encrypted=fresh).execution_options(synchronize_session=False))
            result.rotated += done.rowcount
        db.session.commit()
        last_id = rows[-1][0]


def _rotate_image_hosts(rt: Runtime, result: RotateResult) -> None:
    """The image host token of each pool re-encrypted under the current key (a few rows)."""
    for pool in db.session.scalars(sa.select(Pool).where(Pool.image_host.isnot(None))):
        stored = pool.image_host if isinstance(pool.image_host, dict) else {}
        token = stored.get("token")
        if not token or rt.box.is_current(token):
            continue
        try:
            pool.image_host = {**stored, "token": rt.box.rotate(token)}
        except ValueError:
            result.unreadable_hosts.append(pool.name)
            continue
        result.image_hosts += 1
    db.session.commit()
