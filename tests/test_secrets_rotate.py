"""`flask secrets rotate`: every stored key re-encrypted under a new key, without downtime."""
from __future__ import annotations

import threading

import pytest
import requests
from cryptography.fernet import Fernet, InvalidToken

from balancer.extensions import db
from balancer.models import ApiKey
from balancer.services import keys as key_service
from tests.conftest import TOKEN
from tests.fake_upstream import make_key
from tests.live import flask_cli

NEW = Fernet.generate_key().decode()
NEWER = Fernet.generate_key().decode()
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def stored(app) -> dict[int, str]:
    with app.app_context():
        return dict(db.session.execute(db.select(ApiKey.id, ApiKey.secret_encrypted)).all())


def opens_with(key: str, tokens) -> bool:
    try:
        for token in tokens:
            Fernet(key.encode()).decrypt(token.encode())
        return True
    except InvalidToken:
        return False


def test_rotate_moves_every_key_to_the_new_encryption_key(make_app, upstream):
    old = make_app()
    secrets = [make_key("rot", i) for i in range(3)]
    with old.app_context():
        key_service.add_keys(old.extensions["balancer"], secrets)
    before = stored(old)

    new = make_app(ENCRYPTION_KEY=NEW)  # the SECRET_KEY-derived key still decrypts
    runner = new.test_cli_runner()
    result = runner.invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert "3 re-encrypted, 0 already under the current key" in result.output
    after = stored(new)
    assert after.keys() == before.keys() and all(after[i] != before[i] for i in after)
    assert opens_with(NEW, after.values())
    rt = new.extensions["balancer"]
    assert sorted(rt.box.decrypt(t) for t in after.values()) == sorted(secrets)
    assert not any(s in result.output for s in secrets)

    again = runner.invoke(args=["secrets", "rotate"])
    assert "0 re-encrypted, 3 already under the current key" in again.output

    newer = make_app(ENCRYPTION_KEY=NEWER, ENCRYPTION_OLD_KEYS=NEW)
    result = newer.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0 and "3 re-encrypted" in result.output
    assert opens_with(NEWER, stored(newer).values())


def test_a_key_no_configured_key_opens_is_reported_and_kept(make_app, upstream):
    app = make_app(ENCRYPTION_KEY=NEW)
    rt = app.extensions["balancer"]
    with app.app_context():
        key_service.add_keys(rt, [make_key("keep", 0), make_key("keep", 1)])
        stranger = Fernet(Fernet.generate_key()).encrypt(b"AIza-written-with-a-lost-key").decode()
        row = db.session.scalars(db.select(ApiKey).order_by(ApiKey.id)).first()
        row.secret_encrypted = stranger
        db.session.commit()
        lost_id = row.id
    moved = make_app(ENCRYPTION_KEY=NEWER, ENCRYPTION_OLD_KEYS=NEW)
    result = moved.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 2
    assert "1 re-encrypted, 0 already under the current key, 1 unreadable" in result.output
    assert f"ids {lost_id}" in result.output and "ENCRYPTION_OLD_KEYS" in result.output
    assert stored(moved)[lost_id] == stranger  # nothing already stored is lost


def test_a_bad_old_key_stops_start_up_naming_the_variable(make_app):
    from balancer.config import ConfigError
    with pytest.raises(ConfigError, match="ENCRYPTION_OLD_KEYS"):
        make_app(ENCRYPTION_KEY=NEW, ENCRYPTION_OLD_KEYS="not-a-key")


@pytest.mark.e2e
def test_a_running_balancer_keeps_serving_through_a_rotation(start, upstream):
    keys = [make_key("live-rot", i) for i in range(4)]
    live = start(keys, ENCRYPTION_KEY=NEW)
    failures, sent = [], [0]
    stop = threading.Event()

    def traffic():
        with requests.Session() as session:
            while not stop.is_set() and sent[0] < 400:
                resp = session.post(f"{live.url}/v1/chat/completions", json=CHAT, timeout=10,
                                    headers={"Authorization": f"Bearer {TOKEN}"})
                sent[0] += 1
                if resp.status_code != 200:
                    failures.append(resp.status_code)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        rotated = flask_cli({**live.env, "ENCRYPTION_KEY": NEWER, "ENCRYPTION_OLD_KEYS": NEW},
                            "secrets", "rotate")
    finally:
        stop.set()
        worker.join(30)
    assert rotated.returncode == 0, rotated.stderr
    assert "4 re-encrypted" in rotated.stdout
    assert sent[0] > 0 and not failures
    # The running workers still hold the plain keys; a restart with the new key loads them all.
    live.stop()
    relaunched = start(keys, ENCRYPTION_KEY=NEWER)
    for _ in range(8):
        resp = requests.post(f"{relaunched.url}/v1/chat/completions", json=CHAT, timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200
    served = {r["key"] for r in upstream.requests[-8:]}
    assert served == set(keys)
