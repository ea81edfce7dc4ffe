"""Runtime settings: validation, storage, and effect on the key pool."""
from __future__ import annotations

import pytest

from balancer.keypool.records import Strategy
from balancer.services import settings as settings_service
from balancer.settings import SettingError, defaults, validate


@pytest.mark.parametrize("changes, fragment", [
    ({"strategy": "fastest"}, "strategy"),
    ({"max_retries": -1}, "max_retries"),
    ({"max_retries": 2.5}, "max_retries"),
    ({"max_failures": "many"}, "max_failures"),
    ({"log_requests": "maybe"}, "log_requests"),
    ({"no_such_setting": 1}, "no_such_setting"),
    ({"ejection_base_seconds": 100, "ejection_max_seconds": 10}, "ejection_max_seconds"),
])
def test_bad_values_are_refused_with_the_setting_named(changes, fragment):
    with pytest.raises(SettingError) as err:
        validate(changes)
    assert fragment in str(err.value)


def test_values_are_coerced_to_their_types():
    assert validate({"max_retries": "5", "log_requests": "off", "cooldown_default_seconds": 30}) == \
        {"max_retries": 5, "log_requests": False, "cooldown_default_seconds": 30.0}


def test_stream_keep_alives_come_every_15_seconds_unless_set_to_0():
    assert defaults()["stream_keepalive_seconds"] == 15.0
    assert validate({"stream_keepalive_seconds": "0"}) == {"stream_keepalive_seconds": 0.0}
    with pytest.raises(SettingError, match="stream_keepalive_seconds"):
        validate({"stream_keepalive_seconds": -1})


def test_every_setting_has_a_valid_default():
    assert validate(defaults()) == defaults()


def test_a_saved_setting_takes_effect_at_once_and_survives_a_reload(app, rt):
    with app.app_context():
        settings_service.update(rt, {"strategy": "least_busy", "max_retries": 1})
        assert rt.settings.current.strategy == "least_busy"
        assert rt.policy_for(1).strategy is Strategy.LEAST_BUSY
        rt.settings.load({})
        settings_service.load(rt)
        assert rt.settings.current.max_retries == 1


def test_a_refused_change_saves_nothing(app, rt):
    with app.app_context():
        with pytest.raises(SettingError):
            settings_service.update(rt, {"max_retries": 2, "strategy": "bogus"})
        assert settings_service.stored() == {}
        assert rt.settings.current.max_retries == defaults()["max_retries"]


def test_pool_overrides_apply_on_top_of_settings(rt):
    policy = rt.settings.current.policy({"strategy": "random", "max_failures": 7})
    assert policy.strategy is Strategy.RANDOM and policy.max_failures == 7


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-Infinity", "1e999", float("nan"),
                                 float("inf"), float("-inf")])
@pytest.mark.parametrize("name", ["ejection_base_seconds", "cooldown_margin_seconds",
                                  "read_timeout_seconds", "recovery_interval_seconds"])
def test_nan_and_infinities_are_refused(name, raw):
    """NaN passed every bound (each comparison is False) and reached the database."""
    with pytest.raises(SettingError) as err:
        validate({name: raw})
    assert name in str(err.value) and "finite" in str(err.value)


def test_nan_is_refused_by_the_cli_and_as_a_pool_override(app, rt):
    from balancer.services import pools as pool_service
    from balancer.services.pool_checks import PoolError
    result = app.test_cli_runner().invoke(args=["settings", "set", "cooldown_default_seconds=nan"])
    assert result.exit_code != 0 and "finite" in result.output
    with app.app_context():
        assert settings_service.stored() == {}
        with pytest.raises(PoolError, match="finite"):
            pool_service.create_pool(rt, "other", "gemini", overrides={"ejection_max_seconds": "inf"})
