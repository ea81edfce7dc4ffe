"""The migrations build exactly the schema the models describe, and undo it."""
from __future__ import annotations

import subprocess

from tests.live import ROOT, VENV_BIN


def flask_db(env: dict, *args: str) -> subprocess.CompletedProcess:
    import os
    return subprocess.run([str(VENV_BIN / "flask"), "db", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, **env, "FLASK_APP": "balancer"})


def test_upgrade_matches_the_models_and_downgrade_undoes_it(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}", "BALANCER_INSTANCE_PATH": str(tmp_path)}
    assert flask_db(env, "upgrade").returncode == 0
    check = flask_db(env, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    down = flask_db(env, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert flask_db(env, "upgrade").returncode == 0


def test_usage_per_api_keeps_old_counts_as_unknown_and_downgrades_without_collisions(tmp_path):
    import sqlite3

    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
           "BALANCER_INSTANCE_PATH": str(tmp_path)}
    assert flask_db(env, "upgrade", "0012").returncode == 0
    bins = [f"{p}_{i}" for p in ("lat", "ttfb") for i in range(14)]
    sums = ["count", "success", "client_error", "rate_limited", "upstream_error", "no_key",
            "client_gone", "tokens_in", "tokens_out", "latency_ms_sum", "ttfb_ms_sum"] + bins
    minute = "2026-12-01 10:05:00.000000"
    with sqlite3.connect(tmp_path / "a.db") as con:
        con.execute("INSERT INTO usage_buckets (minute, pool_id, key_id, model, client_id, "
                    "status_class, count, tokens_in, tokens_out, latency_ms_sum, ttfb_ms_sum) "
                    "VALUES (?, 1, 1, 'm', 0, 'success', 3, 30, 60, 900, 0)", (minute,))
        for table, start in (("usage_hours", "2026-12-01 10:00:00.000000"),
                             ("usage_days", "2026-12-01 00:00:00.000000")):
            con.execute(f"INSERT INTO {table} (start, dimension, subject, {', '.join(sums)}) "
                        f"VALUES (?, 'all', '', {', '.join(['3'] + ['0'] * (len(sums) - 1))})",
                        (start,))
    up = flask_db(env, "upgrade")
    assert up.returncode == 0, up.stderr
    with sqlite3.connect(tmp_path / "a.db") as con:
        assert con.execute("SELECT api_format, count FROM usage_buckets").fetchall() == [("", 3)]
        for table in ("usage_hours", "usage_days"):
            assert con.execute(f"SELECT subject, count FROM {table} WHERE dimension = 'api'"
                               ).fetchall() == [("", 3)]
        # A minute that served two dialects after the upgrade.
        con.execute("INSERT INTO usage_buckets (minute, pool_id, key_id, model, client_id, "
                    "api_format, status_class, count, tokens_in, tokens_out, latency_ms_sum, "
                    "ttfb_ms_sum) VALUES (?, 1, 1, 'm', 0, 'gemini', 'success', 2, 20, 40, 600, 0)",
                    (minute,))
    down = flask_db(env, "downgrade", "0012")
    assert down.returncode == 0, down.stderr
    with sqlite3.connect(tmp_path / "a.db") as con:
        assert con.execute("SELECT count, tokens_in, latency_ms_sum FROM usage_buckets"
                           ).fetchall() == [(5, 50, 1500)]
        assert con.execute("SELECT count(*) FROM usage_days WHERE dimension = 'api'"
                           ).fetchone() == (0,)
