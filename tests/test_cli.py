"""``flask keys ...`` as an operator uses it."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey
from tests.fake_upstream import make_key
from tests.fake_upstream.catalogue import GEMINI_MODELS, OPENAI_MODELS


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args, input=None):
        return runner.invoke(args=["keys", *args], input=input, catch_exceptions=False)
    return invoke


def listed(run):
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_add_prints_counts_and_list_shows_masked_keys(run):
    a, b = make_key("cli", 0), make_key("cli", 1)
    result = run("add", a, b, "--label", "team", "--group", "proj-1")
    assert result.output.strip() == "2 added, 0 already present, 0 malformed"
    rows = listed(run)
    assert [r["key"] for r in rows] == [f"{a[:4]}…{a[-3:]}", f"{b[:4]}…{b[-3:]}"]
    assert all(r["label"] == "team" and r["group"] == "proj-1" and r["status"] == "active" for r in rows)
    assert set(rows[0]) >= {"id", "label", "group", "key", "status", "disabled_reason", "cooldown_until",
                            "requests", "failures", "tokens_in", "tokens_out", "last_used", "models"}
    assert a not in run("list").output


def test_adding_the_same_key_twice_adds_it_once(run):
    key = make_key("cli", 2)
    run("add", key)
    assert run("add", key).output.strip() == "0 added, 1 already present, 0 malformed"
    assert len(listed(run)) == 1


def test_import_finds_keys_in_any_text_and_counts_malformed_ones(run):
    a, b = make_key("cli", 3), make_key("cli", 4)
    text = f"prod: {a}\nstaging={b}; old: AIzaTOO-SHORT\n{a}\n"
    result = run("import", "-", input=text)
    # The second copy of a is one key already present, as on the keys page.
    assert result.output.strip() == "2 added, 1 already present, 1 malformed"


def test_export_is_masked_unless_revealed_and_round_trips(run, app):
    key = make_key("cli", 5)
    run("add", key, "--label", "x")
    masked = json.loads(run("export").output)
    assert key not in json.dumps(masked)
    revealed = json.loads(run("export", "--reveal").output)
    assert revealed["keys"][0]["key"] == key and revealed["keys"][0]["label"] == "x"
    run("delete", str(revealed["keys"][0]["id"]), "--yes")
    assert listed(run) == []
    assert run("import", "-", input=json.dumps(revealed)).output.startswith("1 added")
    assert listed(run)[0]["label"] == "x"


def test_disable_enable_and_delete(run, rt):
    run("add", make_key("cli", 6))
    key_id = listed(run)[0]["id"]
    assert "disabled" in run("disable", str(key_id)).output
    row = listed(run)[0]
    assert row["status"] == "disabled" and row["disabled_reason"] == "switched off"
    assert rt.keypool.snapshot(key_id)[0].enabled is False
    run("enable", str(key_id))
    assert listed(run)[0]["status"] == "active"
    run("delete", str(key_id), "--yes")
    assert listed(run) == [] and rt.keypool.snapshot(key_id) is None


def test_an_unknown_id_is_a_usage_error(app):
    result = app.test_cli_runner().invoke(args=["keys", "enable", "999"])
    assert result.exit_code == 2 and "no key with id 999" in result.output


def test_add_takes_auth_keys_and_shows_them_masked(run, app, rt):
    aq = [make_key("cli-aq", i, kind="auth") for i in range(2)]
    result = run("add", aq[0], f"'{aq[1]}',", aq[0], "--label", "studio")
    assert result.exit_code == 0
    assert result.output.strip() == "2 added, 1 already present, 0 malformed"
    assert [r["key"] for r in listed(run)] == [f"{k[:4]}…{k[-3:]}" for k in aq]
    assert [r["key"][:4] for r in listed(run)] == ["AQ." + k[3] for k in aq]
    with app.app_context():
        stored = db.session.scalars(sa.select(ApiKey.secret_encrypted).order_by(ApiKey.id))
        assert [rt.box.decrypt(token) for token in stored] == aq
    text = run("list").output + run("list", "--json").output + run("export").output
    assert all(k not in text and k[:-3] not in text for k in aq)


def test_add_takes_a_key_of_an_unknown_shape_with_a_warning(run):
    result = run("add", "gk1.Zq8Vn2Lw5Xr7Kp3Ty9Bm4Hc6")
    assert result.exit_code == 0
    assert result.output.strip() == (
        "1 added, 0 already present, 0 malformed, 1 of an unknown shape (does not look like a "
        "standard (AIza…) or auth (AQ.…) Gemini key; added anyway, check it)")
    assert "gk1.Zq8Vn2Lw5Xr7Kp3Ty9Bm4Hc6" not in run("list").output


@pytest.mark.parametrize("arg", ["typo", "AQ.Ab8RN6Lm", "AIzaTOO-SHORT", "https://aistudio.google.com"])
def test_add_refuses_what_cannot_be_a_key_without_echoing_it(run, arg):
    result = run("add", arg)
    assert result.exit_code == 1
    assert result.output.strip() == "0 added, 0 already present, 1 malformed"
    assert listed(run) == []


def test_import_takes_auth_keys_from_any_text(run):
    aq = [make_key("cli-imp", i, kind="auth") for i in range(2)]
    text = f"GEMINI_API_KEYS={aq[0]}\nfrom AI Studio: {aq[1]}.\ncut: AQ.Ab8RN6...\n"
    assert run("import", "-", input=text).output.strip() == "2 added, 0 already present, 1 malformed"
    assert [r["key"] for r in listed(run)] == [f"{k[:4]}…{k[-3:]}" for k in aq]


# --- flask pools / flask models ---------------------------------------------------


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args, input=None):
        return runner.invoke(args=list(args), input=input, catch_exceptions=False)
    return invoke


def pools(cli) -> dict:
    result = cli("pools", "list", "--json")
    assert result.exit_code == 0, result.output
    return {p["name"]: p for p in json.loads(result.output)}


def test_pools_add_list_edit_delete(cli, upstream):
    result = cli("pools", "add", "groq", "--kind", "openai", "--base-url", f"{upstream.url}/openai/v1",
                 "--proxy", "socks5h://bob:pw@127.0.0.1:1080", "--strategy", "least_busy",
                 "--set", "max_failures=5", "--alias", "fast=gpt-4o-mini", "--alias", "big=gpt-4.1")
    assert result.exit_code == 0 and result.output.startswith("pool groq created (openai")
    groq = pools(cli)["groq"]
    assert groq["overrides"] == {"strategy": "least_busy", "max_failures": 5}
    assert groq["aliases"] == {"fast": "gpt-4o-mini", "big": "gpt-4.1"}
    assert groq["proxy_url"] == "socks5h://bob:***@127.0.0.1:1080" and groq["enabled"]
    text = cli("pools", "list").output
    assert "groq" in text and "fast -> gpt-4o-mini" in text and "pw" not in text

    result = cli("pools", "edit", "groq", "--name", "groq-eu", "--disable", "--set", "max_failures=",
                 "--set", "max_retries=1", "--unset", "strategy", "--alias", "fast=o4-mini",
                 "--unalias", "big", "--proxy", "")
    assert result.exit_code == 0, result.output
    edited = pools(cli)["groq-eu"]
    assert edited["overrides"] == {"max_retries": 1} and edited["aliases"] == {"fast": "o4-mini"}
    assert edited["proxy_url"] is None and not edited["enabled"]

    cli("keys", "add", make_key("cli-pool", 0, openai=True), "--pool", "groq-eu")
    assert cli("pools", "delete", "groq-eu", input="n\n").exit_code == 1
    result = cli("pools", "delete", "groq-eu", input="y\n")
    assert "and its 1 keys for good?" in result.output and "deleted, with 1 keys" in result.output
    assert set(pools(cli)) == {"gemini"} and listed(lambda *a: cli("keys", *a)) == []


def test_an_openai_pool_takes_every_providers_keys(cli, upstream):
    cli("pools", "add", "mixed", "--kind", "openai", "--base-url", f"{upstream.url}/openai/v1")
    kinds = ("openai", "project", "svcacct", "openrouter", "anthropic", "xai", "groq",
             "cerebras", "mistral", "together")
    made = [make_key("cli-mix", 0, kind=kind) for kind in kinds]
    result = cli("keys", "add", *made, "sk-short", "--pool", "mixed")
    assert result.output.strip() == "10 added, 0 already present, 1 malformed"
    listed_keys = [r["key"] for r in listed(lambda *a: cli("keys", *a))]
    assert listed_keys == [f"{k[:4]}…{k[-3:]}" for k in made]


@pytest.mark.parametrize("args, words", [
    (("pools", "add", "Bad/Name", "--kind", "gemini"), "pool name 'Bad/Name'"),
    (("pools", "add", "groq", "--kind", "openai"), "needs a base URL"),
    (("pools", "add", "g", "--kind", "gemini", "--set", "max_failures"), "expected NAME=VALUE"),
    (("pools", "add", "g", "--kind", "gemini", "--set", "nope=1"), "nope: no such setting"),
    (("pools", "add", "g", "--kind", "gemini", "--alias", "x=a b"), "not a valid model name"),
    (("pools", "add", "g", "--kind", "gemini", "--proxy", "ftp://p"), "proxy URL"),
    (("pools", "edit", "nope", "--disable"), "no pool named 'nope'"),
    (("pools", "edit", "gemini"), "nothing to change"),
    (("pools", "edit", "gemini", "--unalias", "x"), "has no alias 'x'"),
    (("pools", "edit", "gemini", "--unset", "max_retries"), "has no override named 'max_retries'"),
    (("pools", "delete", "gemini", "--yes"), "default pool"),
    (("pools", "delete", "nope", "--yes"), "no pool named 'nope'"),
    (("models", "refresh", "nope"), "no pool named 'nope'"),
    (("models", "list", "nope"), "no pool named 'nope'"),
])
def test_refused_commands_exit_2_with_one_line(app, args, words):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("Error: ") and words in line and "\n" not in line


def test_models_refresh_and_list(cli, upstream):
    cli("keys", "add", make_key("cli-m", 0))
    cli("pools", "add", "prov", "--kind", "openai", "--base-url", f"{upstream.url}/openai/v1",
        "--alias", "mini=gpt-4o-mini")
    cli("keys", "add", make_key("cli-m", 1, openai=True), make_key("cli-m", 2, openai=True), "--pool", "prov")
    upstream.set_key(make_key("cli-m", 1, openai=True), "invalid")
    result = cli("models", "refresh")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"gemini: {len(GEMINI_MODELS)} models",
                                          f"prov: {len(OPENAI_MODELS)} models"]
    assert [k["status"] for k in listed(lambda *a: cli("keys", *a))] == ["active", "disabled", "active"]
    rows = json.loads(cli("models", "list", "prov", "--json").output)
    assert rows[0]["models"][0] == "gpt-4o-mini" and rows[0]["aliases"] == {"mini": "gpt-4o-mini"}
    text = cli("models", "list", "prov").output
    assert text.startswith(f"prov (openai): {len(OPENAI_MODELS)} models, 20") and "  mini -> gpt-4o-mini" in text


def test_models_refresh_reports_a_failure_with_exit_1(cli, upstream):
    cli("pools", "add", "prov", "--kind", "openai", "--base-url", f"{upstream.url}/openai/v1")
    result = cli("models", "refresh", "prov")
    assert result.exit_code == 1
    assert result.output.strip() == "prov: failed: No key can list the models: the pool has no keys."


def test_settings_list_and_set(cli, rt):
    listed = cli("settings", "list")
    assert "strategy" in listed.output and "How a key is picked" in listed.output
    done = cli("settings", "set", "strategy=least_busy", "max_retries=5")
    assert done.exit_code == 0 and "strategy=least_busy" in done.output
    assert rt.settings.current.strategy == "least_busy" and rt.settings.current.max_retries == 5
    assert "(default round_robin)" in cli("settings", "list").output
    bad = cli("settings", "set", "strategy=fastest", "max_retries=1")
    assert bad.exit_code == 2 and "strategy" in bad.output
    assert rt.settings.current.max_retries == 5  # nothing saved when one value is refused
    assert cli("settings", "set", "nonsense").exit_code == 2


def test_a_vertex_express_pool_from_the_command_line(cli, upstream):
    result = cli("pools", "add", "vertex", "--kind", "vertex_express")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("pool vertex created (vertex_express, aiplatform.googleapis.com")
    auth_key = "AQ." + make_key("cli-vx", 0)[4:] + "Ab_-Q"
    result = cli("keys", "add", auth_key, make_key("cli-vx", 1), "--pool", "vertex")
    assert result.exit_code == 0 and auth_key not in result.output
    assert result.output.startswith("2 added, 0 already present, 0 malformed")
    assert "added anyway" not in result.output
    # Express mode has no model list for API keys: the documented models, no upstream call.
    result = cli("models", "refresh", "vertex")
    assert result.exit_code == 0 and result.output.startswith("vertex: 5 models")
    assert "gemini-2.5-flash" in cli("models", "list", "vertex").output
    assert not upstream.requests
    assert pools(cli)["vertex"]["kind"] == "vertex_express"
