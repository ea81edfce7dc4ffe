"""Saved prompts of the playground: save the form under a name, list, load, delete."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import SavedPrompt

#: Longest name, as the column allows.
NAME_MAX = 128


class PromptError(ValueError):
    """A saved-prompt change was refused; the message says why."""


@dataclass(frozen=True)
class PromptFields:
    """What the playground's form holds: everything a saved prompt keeps but its name."""

    pool: str
    model: str
    system: Optional[str]
    message: str
    temperature: float
    max_tokens: int
    stream: bool


def list_prompts() -> list[SavedPrompt]:
    """Every saved prompt, by name."""
    return list(db.session.scalars(sa.select(SavedPrompt).order_by(SavedPrompt.name)))


def get_prompt(prompt_id: int) -> SavedPrompt:
    """A saved prompt by id; LookupError when there is none."""
    row = db.session.get(SavedPrompt, prompt_id)
    if row is None:
        raise LookupError(f"no saved prompt with id {prompt_id}")
    return row


def name_taken(name: str) -> bool:
    """Whether a saved prompt already has this name (names are compared as stored)."""
    return db.session.scalar(sa.select(SavedPrompt.id).where(SavedPrompt.name == name)) is not None


def save_prompt(name: str, fields: PromptFields) -> SavedPrompt:
    """Store the form under a new name.

    :raises PromptError: the name is empty, too long or taken (also when another
        request took it between the form's check and this insert).
    """
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise PromptError(f"A name of 1 to {NAME_MAX} characters is needed.")
    if name_taken(name):
        raise PromptError(f"A saved prompt named “{name}” exists already.")
    row = SavedPrompt(name=name, pool=fields.pool, model=fields.model,
                      system=fields.system or None, message=fields.message or "",
                      temperature=float(fields.temperature), max_tokens=int(fields.max_tokens),
                      stream=bool(fields.stream))
    db.session.add(row)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        raise PromptError(f"A saved prompt named “{name}” exists already.") from None
    return row


def delete_prompt(prompt_id: int) -> SavedPrompt:
    """Remove a saved prompt; returns the row as it was. LookupError when there is none."""
    row = get_prompt(prompt_id)
    db.session.delete(row)
    db.session.commit()
    return row
