"""The settings page: every setting shown with its help, validated, saved, in force at once."""
from __future__ import annotations

import re
from html import unescape

from balancer.extensions import db
from balancer.models import Setting
from balancer.services import settings as settings_service
from balancer.settings import SPECS


def _form(rt, **changes) -> dict:
    """The form as the page would submit it: every current value, some changed."""
    data = {}
    for spec in SPECS:
        value = changes.get(spec.name, rt.settings.current.values[spec.name])
        if spec.kind is bool:
            if value:
                data[spec.name] = "y"
        else:
            data[spec.name] = str(value)
    return data


def test_every_setting_is_on_the_page_with_its_help(admin):
    html = unescape(admin.text("/admin/settings"))
    for spec in SPECS:
        assert f'name="{spec.name}"' in html, spec.name
        assert spec.help.split(" (")[0][:40] in html
        assert re.search(rf'<label[^>]+for="{spec.name}"', html), f"no label for {spec.name}"
    assert "Default: round_robin." in html


def test_a_change_is_saved_and_in_force_at_once(admin, admin_app, rt):
    resp = admin.post("/admin/settings", _form(rt, strategy="least_used", max_failures=7,
                                               suffix_search=False))
    assert resp.status_code == 302
    assert rt.settings.current.strategy == "least_used"
    assert rt.policy_for(1).strategy.value == "least_used"
    assert rt.settings.current.max_failures == 7 and rt.settings.current.suffix_search is False
    with admin_app.app_context():
        stored = {row.name: row.value for row in db.session.query(Setting)}
    assert stored == {"strategy": "least_used", "max_failures": 7, "suffix_search": False}
    page = admin.text("/admin/settings")
    assert "Saved max_failures, strategy, suffix_search." in page
    assert re.search(r'<option selected value="least_used">|<option value="least_used" selected>', page)


def test_another_worker_follows_through_its_sync(admin, make_app, rt):
    other = make_app(ADMIN_PASSWORD="another worker password")
    other_rt = other.extensions["balancer"]
    other_rt.services.bootstrap()
    admin.post("/admin/settings", _form(rt, strategy="random"))
    assert other_rt.settings.current.strategy == "round_robin"
    other_rt.services.sync()
    assert other_rt.settings.current.strategy == "random"


def test_bad_values_are_shown_next_to_their_field_and_nothing_is_saved(admin, admin_app, rt):
    resp = admin.post("/admin/settings", _form(rt, max_failures=0, read_timeout_seconds="soon",
                                               strategy="fastest"))
    html = unescape(resp.get_data(as_text=True))
    assert resp.status_code == 400
    assert "Nothing was saved" in html
    assert "must be at least 1, got 0" in html
    assert "expected float, got 'soon'" in html
    assert "Not a valid choice." in html
    assert rt.settings.current.max_failures == 3
    with admin_app.app_context():
        assert settings_service.stored() == {}


def test_an_empty_number_is_refused(admin, rt):
    resp = admin.post("/admin/settings", _form(rt, max_retries=""))
    assert resp.status_code == 400 and "Enter a value." in resp.get_data(as_text=True)


def test_settings_that_contradict_each_other(admin, rt):
    resp = admin.post("/admin/settings", _form(rt, ejection_base_seconds=600, ejection_max_seconds=60))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "must not be below ejection_base_seconds" in html
    assert rt.settings.current.ejection_max_seconds == 1800.0


def test_saving_without_a_change(admin, rt):
    assert admin.post("/admin/settings", _form(rt)).status_code == 302
    assert "Nothing changed." in admin.text("/admin/settings")


def test_settings_need_the_csrf_token(admin, rt):
    data = _form(rt, strategy="random")
    resp = admin.client.post("/admin/settings", data=data)
    assert resp.status_code == 400
    assert rt.settings.current.strategy == "round_robin"
