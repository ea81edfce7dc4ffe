"""A key export file is checked whole before anything is stored, and stored in one transaction."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey
from balancer.services import keys as key_service
from balancer.services.key_import import Entry, KeyImportError, check_export
from tests.fake_upstream import make_key

GOOD = {"key": "AIza-any", "label": "prod", "group": "project-a", "tags": ["a", "b"],
        "enabled": False}


@pytest.mark.parametrize("entry, problem", [
    ("AIza-any", "expected an object, got the string"),
    ({"label": "no key"}, '"key" must be a string, got null'),
    ({**GOOD, "enabled": "false"}, '"enabled" must be true or false (a JSON boolean), got the '
                                   'string "false"'),
    ({**GOOD, "enabled": 0}, '"enabled" must be true or false'),
    ({**GOOD, "label": "x" * 129}, '"label" is 129 characters long, at most 128'),
    ({**GOOD, "label": 5}, '"label" must be a string or null, got a number'),
    ({**GOOD, "label": "a\x00b"}, '"label" holds a NUL character or a lone surrogate'),
    ({**GOOD, "group": "g\ud800"}, '"group" holds a NUL character or a lone surrogate'),
    ({**GOOD, "group": ["x"]}, '"group" must be a string or null, got a list'),
    ({**GOOD, "tags": "a,b"}, '"tags" must be a list of strings, got the string'),
    ({**GOOD, "tags": ["ok", "has space"]}, '"tags": each tag is 1 to 64 characters'),
    ({**GOOD, "tags": [1]}, '"tags": each tag'),
    ({**GOOD, "tags": [f"t{i}" for i in range(21)]}, '"tags": at most 20 tags, got 21'),
])
def test_each_problem_is_named_with_its_entry_number(entry, problem):
    with pytest.raises(KeyImportError) as err:
        check_export([GOOD, GOOD, entry, GOOD])
    assert str(err.value).startswith("entry 3: ") and problem in str(err.value), str(err.value)
    assert str(err.value).endswith("nothing was imported")


def test_a_good_file_is_read_with_defaults_for_what_an_entry_leaves_out():
    assert check_export([GOOD, {"key": "k2", "label": None, "tags": None}], "dflt", "grp") == [
        Entry("AIza-any", "prod", "project-a", ("a", "b"), False),
        Entry("k2", "dflt", "grp", (), True)]


def test_a_bad_entry_changes_nothing_stored(app, rt):
    good = [{"key": make_key("imp", i), "label": f"l{i}", "enabled": True} for i in range(3)]
    doc = {"keys": good + [{"key": make_key("imp", 9), "enabled": "false"}]}
    result = app.test_cli_runner().invoke(args=["keys", "import", "-"], input=json.dumps(doc))
    assert result.exit_code == 1
    assert 'entry 4: "enabled" must be true or false' in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0
    assert rt.keypool.key_ids() == set()


def test_enabled_false_is_kept_and_a_good_file_is_stored_whole(app, rt):
    doc = {"keys": [{"key": make_key("imp", 1), "enabled": False, "tags": ["x"]},
                    {"key": make_key("imp", 2), "label": "two", "enabled": True},
                    {"key": "AIza…9xQ"}]}
    with app.app_context():
        result = key_service.import_text(rt, json.dumps(doc))
        assert len(result.added) == 2 and result.malformed == 1
        rows = {r.label: r for r in db.session.scalars(sa.select(ApiKey))}
        assert rows[None].enabled is False and rows[None].tags == ["x"]
        assert rows["two"].enabled is True


@pytest.mark.parametrize("name", ["a\x00b", "x\ud800", "\x00"])
def test_client_token_names_and_key_labels_refuse_nuls_and_lone_surrogates(app, rt, keys, name):
    from balancer.services import client_tokens, key_ops
    keys(1)
    with app.app_context():
        key_id = db.session.scalar(sa.select(ApiKey.id))
        with pytest.raises(client_tokens.TokenError, match="NUL"):
            client_tokens.create_token(rt, name)
        with pytest.raises(key_ops.KeyEditError, match="NUL"):
            key_ops.edit_keys(rt, [key_id], {"label": name})
