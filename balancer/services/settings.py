"""Reading and changing runtime settings."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from balancer.extensions import db
from balancer.models import Setting
from balancer.runtime import Runtime
from balancer.services import audit
from balancer.settings import Settings, validate


def stored(session: Optional[Session] = None) -> dict[str, Any]:
    """Every stored setting row as name -> value."""
    return {row.name: row.value for row in (session or db.session).scalars(sa.select(Setting))}


def load(rt: Runtime) -> Settings:
    """Refresh the process's snapshot from the database."""
    return rt.settings.load(stored())


def update(rt: Runtime, changes: Mapping[str, Any]) -> Settings:
    """Validate and save changes; in force here at once, elsewhere after a sync.

    :raises SettingError: a name or value was refused; nothing is saved then.
    """
    clean = validate(changes, rt.settings.current.values)
    for name in changes:
        row = db.session.get(Setting, name)
        if row is None:
            db.session.add(Setting(name=name, value=clean[name]))
        else:
            row.value = clean[name]
    db.session.commit()
    audit.setting_changes(rt.settings.current.values, clean)
    return load(rt)
