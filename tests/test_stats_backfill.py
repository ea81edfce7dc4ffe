"""Upgrading to 0006 fills the hour and day rollups from the history already kept."""
from __future__ import annotations

import sqlalchemy as sa

from tests.test_migrations import flask_db


def test_the_upgrade_rolls_existing_minute_buckets_up_to_hours_and_days(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    env = {"DATABASE_URL": url, "BALANCER_INSTANCE_PATH": str(tmp_path)}
    assert flask_db(env, "upgrade", "0005").returncode == 0
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO usage_buckets (minute, pool_id, key_id, model, client_id, status_class, count,"
            " tokens_in, tokens_out, latency_ms_sum, ttfb_ms_sum) VALUES"
            " ('2026-01-05 10:01:00', 1, 3, 'm1', 0, 'success', 4, 40, 80, 800, 0),"
            " ('2026-01-05 10:59:00', 1, 4, 'm1', 2, 'rate_limited', 1, 0, 0, 30, 0),"
            " ('2026-01-05 23:30:00', 1, 3, 'm2', 2, 'success', 2, 20, 10, 5000, 300),"
            " ('2026-01-06 00:10:00', 1, 3, 'm1', 0, 'success', 1, 5, 5, 100, 0)"))
        conn.execute(sa.text(
            "INSERT INTO request_logs (created_at, pool_id, key_id, model, client_id, api_format, route,"
            " stream, status, attempts, latency_ms, ttfb_ms, tokens_in, tokens_out) VALUES"
            " ('2026-01-05 23:30:10', 1, 3, 'm2', 2, 'openai', 'chat', 1, 200, 1, 2600, 150, 10, 5),"
            " ('2026-01-05 23:30:20', 1, 3, 'm2', 2, 'openai', 'chat', 1, 200, 1, 3000, 150, 10, 5)"))
    up = flask_db(env, "upgrade", "0006")
    assert up.returncode == 0, up.stderr
    with engine.connect() as conn:
        hours = conn.execute(sa.text(
            "SELECT start, count, success, rate_limited, tokens_in, latency_ms_sum FROM usage_hours"
            " WHERE dimension = 'all' ORDER BY start")).all()
        assert [tuple(h[1:]) for h in hours] == [(5, 4, 1, 40, 830), (2, 2, 0, 20, 5000), (1, 1, 0, 5, 100)]
        days = dict(conn.execute(sa.text(
            "SELECT subject, count FROM usage_days WHERE dimension = 'key' AND start < '2026-01-06'")).all())
        assert days == {"3": 6, "4": 1}
        models = dict(conn.execute(sa.text(
            "SELECT subject, count FROM usage_days WHERE dimension = 'model'"
            " AND start < '2026-01-06'")).all())
        assert models == {"m1": 5, "m2": 2}
        # Histograms come from the request-log rows that were still kept.
        row = conn.execute(sa.text("SELECT lat_8, ttfb_2 FROM usage_hours WHERE dimension = 'all'"
                                   " AND start >= '2026-01-05 23:00:00' AND start < '2026-01-06'")).one()
        assert tuple(row) == (2, 2)
        assert conn.execute(sa.text("SELECT SUM(lat_8) FROM usage_histograms")).scalar() == 2
    engine.dispose()
