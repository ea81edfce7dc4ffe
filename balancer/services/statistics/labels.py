"""Names for the subjects of a breakdown: masked keys with their labels, pools, clients, models,
API dialects."""
from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, ClientToken, Pool, UsageDay

#: What subject "0" (or "" for models) stands for in each dimension.
NONE = {"key": "no key (refused before one was picked)", "pool": "no pool",
        "client": "environment tokens / open access", "model": "no model",
        # Minutes, hours and days counted before Balancer kept the dialect per bucket.
        "api": "unknown (counted before per-API statistics)"}

#: The client dialects (``RequestLog.api_format``) as people know them; the order of the filter.
API_NAMES = {"openai": "OpenAI chat", "gemini": "Gemini", "anthropic": "Anthropic Messages",
             "responses": "OpenAI Responses"}


def names(dimension: str, subjects: Iterable[str]) -> dict[str, dict]:
    """subject -> {"name": ..., and for keys "label" and "pool"}; never a key's secret."""
    subjects = list(subjects)
    out: dict[str, dict] = {}
    if dimension == "model":
        return {s: {"name": s or NONE["model"]} for s in subjects}
    if dimension == "api":
        return {s: {"name": API_NAMES.get(s, s or NONE["api"])} for s in subjects}
    ids = [int(s) for s in subjects if s.isdigit() and int(s)]
    if dimension == "key" and ids:
        for kid, display, label, pool in db.session.execute(
                sa.select(ApiKey.id, ApiKey.display, ApiKey.label, Pool.name)
                .join(Pool, Pool.id == ApiKey.pool_id, isouter=True).where(ApiKey.id.in_(ids))):
            out[str(kid)] = {"name": display, "label": label, "pool": pool}
    elif dimension == "pool" and ids:
        out = {str(i): {"name": n} for i, n in db.session.execute(
            sa.select(Pool.id, Pool.name).where(Pool.id.in_(ids)))}
    elif dimension == "client" and ids:
        out = {str(i): {"name": n} for i, n in db.session.execute(
            sa.select(ClientToken.id, ClientToken.name).where(ClientToken.id.in_(ids)))}
    for s in subjects:
        if s not in out:
            out[s] = {"name": NONE[dimension] if s in ("0", "") else f"#{s} (deleted)"}
    return out


#: Models offered by the filter: those seen on the latest days of the day rollups.
MODEL_CHOICES = 200


def choices() -> dict[str, list[dict]]:
    """What the page's filter offers: pools, keys (masked), client tokens, models seen, APIs."""
    day = UsageDay.__table__.c
    models = sorted({m for m in db.session.scalars(
        sa.select(day.subject).where(day.dimension == "model", day.subject != "")
        .order_by(day.start.desc()).limit(MODEL_CHOICES))})
    return {
        "models": [{"value": m, "name": m} for m in models],
        "apis": [{"value": v, "name": n} for v, n in API_NAMES.items()],
        "pools": [{"value": str(i), "name": n} for i, n in db.session.execute(
            sa.select(Pool.id, Pool.name).order_by(Pool.name))],
        "keys": [{"value": str(i), "name": f"{d} · {label}" if label else d}
                 for i, d, label in db.session.execute(
                     sa.select(ApiKey.id, ApiKey.display, ApiKey.label).order_by(ApiKey.id))],
        "clients": [{"value": str(i), "name": n} for i, n in db.session.execute(
            sa.select(ClientToken.id, ClientToken.name).order_by(ClientToken.name))],
    }
