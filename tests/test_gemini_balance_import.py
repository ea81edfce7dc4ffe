"""Moving over from gemini-balance: its .env (or database) read into Balancer, in one command."""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, ClientToken, Pool, Setting
from balancer.services import gemini_balance, gemini_balance_values
from tests.fake_upstream import make_key

KEYS = [make_key("gb", 0), make_key("gb", 1)]
VERTEX_KEYS = [make_key("gbv", 0, kind="auth")]
TOKENS = ["sk-gb-first-client-token", "sk-gb-second-client-token"]
AUTH = "sk-gb-admin-and-client-token"
PROXY_PASSWORD = "proxy-pass-9"
PROXIES = [f"http://user:{PROXY_PASSWORD}@127.0.0.1:3128", "socks5://127.0.0.1:1080"]
SECRETS = [*KEYS, *VERTEX_KEYS, *TOKENS, AUTH, PROXY_PASSWORD, "smms-secret-value",
           "hdr-secret-value"]


def sample_env(proxies: bool = True) -> str:
    """A gemini-balance .env as its users write it: JSON lists, quotes, comments."""
    q = '","'
    return f"""# 数据库配置
DATABASE_TYPE=sqlite
SQLITE_DATABASE=default_db
API_KEYS=["{q.join(KEYS)}"]
ALLOWED_TOKENS='["{q.join(TOKENS)}"]'
AUTH_TOKEN="{AUTH}"
# For Vertex AI Platform API Keys
VERTEX_API_KEYS=["{VERTEX_KEYS[0]}"]
THINKING_MODELS=["gemini-2.5-flash","gemini-2.5-pro"]
THINKING_BUDGET_MAP={{"gemini-2.5-flash": 1024, "gemini-2.5-pro": -1}}
IMAGE_MODELS=["gemini-2.0-flash-exp"]
SEARCH_MODELS=[]
MAX_FAILURES=7
MAX_RETRIES=5
TIME_OUT=300  # seconds
CHECK_INTERVAL_HOURS=2
PROXIES={'["' + q.join(PROXIES) + '"]' if proxies else "[]"}
PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY=true
SMMS_SECRET_TOKEN=smms-secret-value
AUTO_DELETE_REQUEST_LOGS_ENABLED=true
AUTO_DELETE_REQUEST_LOGS_DAYS=7
CUSTOM_HEADERS={{"X-Gateway-Secret": "hdr-secret-value"}}
SAFETY_SETTINGS=[{{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}}, {{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}}]
TIMEZONE=Asia/Shanghai
"""


def targets(rows) -> dict[str, str]:
    return {row.setting: row.target for row in rows}


# --- the mapping, pure ------------------------------------------------------------


def test_the_plan_takes_what_has_a_counterpart_and_says_why_the_rest_has_none():
    plan = gemini_balance.plan(gemini_balance_values.read_env(sample_env()))
    assert plan.gemini_keys == KEYS
    assert plan.tokens == [("gemini-balance token 1", TOKENS[0]),
                           ("gemini-balance token 2", TOKENS[1]),
                           ("gemini-balance AUTH_TOKEN", AUTH)]
    assert plan.proxies == PROXIES
    assert plan.vertex_keys == VERTEX_KEYS
    assert plan.settings == {"suffix_non_thinking": True, "suffix_image": True,
                             "suffix_search": False, "max_failures": 7, "max_retries": 5,
                             "read_timeout_seconds": 300.0, "recovery_interval_seconds": 7200.0,
                             "request_log_retention_days": 7}
    assert plan.defaults == {
        "headers": {"X-Gateway-Secret": "hdr-secret-value"},
        "thinking_budgets": {"gemini-2.5-flash": 1024, "gemini-2.5-pro": -1},
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"},
                            {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]}
    rows = targets(plan.rows)
    assert rows["API_KEYS"] == "2 key(s) of the default pool (`gemini`)"
    assert rows["VERTEX_API_KEYS"] == "1 key(s) of the `vertex_express` pool `vertex`"
    assert rows["MAX_FAILURES"] == "setting `max_failures` = 7"
    assert rows["CHECK_INTERVAL_HOURS"] == "setting `recovery_interval_seconds` = 7200.0"
    assert rows["TIME_OUT"] == "setting `read_timeout_seconds` = 300.0"
    assert rows["PROXIES"] == "2 outgoing proxies of the default pool"
    assert rows["TIMEZONE"] == "no counterpart: Balancer works in UTC"
    assert rows["SQLITE_DATABASE"] == "no counterpart: Balancer's own database is DATABASE_URL"
    assert rows["SMMS_SECRET_TOKEN"] == "no counterpart: no image hosting here"
    shown = {row.setting: row.value for row in plan.rows}
    assert shown["API_KEYS"] == "2 (hidden)" and shown["AUTH_TOKEN"] == "(hidden)"
    assert shown["PROXIES"] == "http://***@127.0.0.1:3128, socks5://127.0.0.1:1080"
    assert shown["CUSTOM_HEADERS"] == "X-Gateway-Secret"
    assert shown["PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY"] == "true"
    text = gemini_balance.table(plan.rows)
    assert not [s for s in SECRETS if s in text]


@pytest.mark.parametrize("line, row", [
    ("ALLOWED_TOKENS=[\"sk-good\", \"has a space\"]",
     "1 client token(s) with the same values (clients keep theirs); 1 left out (a token is 1 to "
     "512 characters without spaces)"),
    ("ALLOWED_TOKENS={\"not\": \"a list\"}", "not taken: expected a JSON list"),
    ("MAX_RETRIES=lots", "not taken: max_retries: expected int, got 'lots'"),
    ("CHECK_INTERVAL_HOURS=48", "not taken: recovery_interval_seconds: must be at most 86400"),
    ("THINKING_BUDGET_MAP={'gemini-2.5-flash': 99999}",
     "not taken: thinking budget for gemini-2.5-flash: a whole number from -1 (dynamic) to 32768"),
    ("PROXIES=[\"ftp://127.0.0.1:21\"]", "not taken: proxy URL"),
    ("AUTO_DELETE_REQUEST_LOGS_ENABLED=false", "setting `request_log_retention_days` = 0 (keep all)"),
    ("BASE_URL=https://gemini.example.com/v1beta", "base URL of the default pool = https://gemini.example.com"),
    ("BASE_URL=https://generativelanguage.googleapis.com/v1beta",
     "nothing to set: Google's address is Balancer's default too"),
])
def test_a_value_that_does_not_fit_is_left_out_with_the_reason(line, row):
    plan = gemini_balance.plan(gemini_balance_values.read_env(line))
    name = line.split("=", 1)[0]
    assert targets(plan.rows)[name].startswith(row)


def test_the_readme_table_says_what_the_code_does():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Coming from gemini-balance", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `([A-Z_*]+)` \| (.+?) \|$", section, re.M))
    expected = {**gemini_balance.MAPPING,
                **{name: f"no counterpart: {why}" for name, why in gemini_balance.NO_COUNTERPART.items()}}
    assert rows == expected


# --- the command ------------------------------------------------------------------


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=list(args))
    return invoke


@pytest.fixture
def env_file(tmp_path):
    def write(proxies: bool = True) -> str:
        path = tmp_path / ".env"
        path.write_text(sample_env(proxies), encoding="utf-8")
        return str(path)
    return write


def state(app) -> dict:
    with app.app_context():
        pool = db.session.scalar(sa.select(Pool).where(Pool.is_default.is_(True)))
        return {"keys": db.session.scalar(sa.select(sa.func.count(ApiKey.id))),
                "tokens": db.session.scalar(sa.select(sa.func.count(ClientToken.id))),
                "settings": {s.name: s.value for s in db.session.scalars(sa.select(Setting))},
                "proxies": list(pool.proxies or ()) if pool else [],
                "defaults": dict(pool.request_defaults or {}) if pool else {}}


def test_a_dry_run_prints_the_table_and_writes_nothing(app, cli, env_file):
    before = state(app)
    result = cli("import-from", "gemini-balance", env_file(), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "MAX_FAILURES" in result.output and "setting `max_failures` = 7" in result.output
    assert "Dry run: nothing was written." in result.output
    assert state(app) == before
    assert not [s for s in SECRETS if s in result.output]


def test_an_import_brings_keys_tokens_proxies_and_settings_and_a_second_adds_nothing(
        app, cli, env_file):
    result = cli("import-from", "gemini-balance", env_file())
    assert result.exit_code == 0, result.output
    assert not [s for s in SECRETS if s in result.output]
    assert "keys of pool gemini: 2 added, 0 already present" in result.output
    assert "keys of pool vertex: 1 added, 0 already present" in result.output
    assert "client tokens: 3 created, 0 already present" in result.output
    after = state(app)
    assert after["keys"] == 3 and after["tokens"] == 3
    with app.app_context():
        vertex = db.session.scalar(sa.select(Pool).where(Pool.name == "vertex"))
        assert vertex.kind == "vertex_express"
        assert db.session.scalar(sa.select(sa.func.count(ApiKey.id))
                                 .where(ApiKey.pool_id == vertex.id)) == 1
    assert after["proxies"] == PROXIES
    assert after["defaults"]["headers"] == {"X-Gateway-Secret": "hdr-secret-value"}
    assert after["defaults"]["thinking_budgets"] == {"gemini-2.5-flash": 1024, "gemini-2.5-pro": -1}
    assert after["defaults"]["safety_settings"][0] == {"category": "HARM_CATEGORY_HARASSMENT",
                                                       "threshold": "OFF"}
    assert {k: after["settings"][k] for k in ("max_failures", "max_retries", "read_timeout_seconds",
                                              "recovery_interval_seconds", "suffix_search")} == {
        "max_failures": 7, "max_retries": 5, "read_timeout_seconds": 300.0,
        "recovery_interval_seconds": 7200.0, "suffix_search": False}
    with app.app_context():
        prefixes = [t.prefix for t in db.session.scalars(sa.select(ClientToken))]
    assert all(len(p) <= 8 for p in prefixes)  # a stored prefix never gives a short token away

    again = cli("import-from", "gemini-balance", env_file())
    assert again.exit_code == 0, again.output
    assert "keys of pool gemini: 0 added, 2 already present" in again.output
    assert "keys of pool vertex: 0 added, 1 already present" in again.output
    assert "client tokens: 0 created, 3 already present" in again.output
    assert "settings: 0 changed" in again.output
    assert "Nothing to change: this configuration is in Balancer already." in again.output
    assert state(app) == after


def test_a_client_with_its_gemini_balance_token_gets_through(app, cli, env_file, upstream):
    assert cli("import-from", "gemini-balance", env_file(proxies=False)).exit_code == 0
    client = app.test_client()
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi"}]}
    for token in (*TOKENS, AUTH):
        answer = client.post("/hf/v1/chat/completions", json=body,
                             headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.get_json()
    assert upstream.requests[-1]["path"].endswith(":generateContent")
    refused = client.post("/v1/chat/completions", json=body,
                          headers={"Authorization": "Bearer sk-not-imported"})
    assert refused.status_code == 401


def test_the_settings_in_gemini_balances_sqlite_database_are_read_too(app, cli, tmp_path):
    path = tmp_path / "default_db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t_settings (id INTEGER PRIMARY KEY, key VARCHAR(100), "
                     "value TEXT, description VARCHAR(255))")
        conn.executemany("INSERT INTO t_settings (key, value) VALUES (?, ?)", [
            ("API_KEYS", f'["{KEYS[0]}"]'), ("ALLOWED_TOKENS", f'["{TOKENS[0]}"]'),
            ("AUTH_TOKEN", TOKENS[0]), ("MAX_RETRIES", "4"), ("SHOW_SEARCH_LINK", "true")])
    conn.close()
    result = cli("import-from", "gemini-balance", str(path))
    assert result.exit_code == 0, result.output
    assert "client tokens: 1 created, 0 already present" in result.output
    after = state(app)
    assert after["keys"] == 1 and after["settings"]["max_retries"] == 4


def test_a_missing_source_is_a_clear_error(cli, tmp_path):
    result = cli("import-from", "gemini-balance", str(tmp_path / "nope.env"))
    assert result.exit_code == 2
    assert "cannot read" in result.output
