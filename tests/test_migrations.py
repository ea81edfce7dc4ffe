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
