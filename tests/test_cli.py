"""``flask keys ...`` as an operator uses it."""
from __future__ import annotations

import json

import pytest

from tests.fake_upstream import make_key


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
    assert result.output.strip() == "2 added, 0 already present, 1 malformed"


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
