"""The admin UI in a real browser, against a live Balancer and the fake upstream."""
from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import shot, sign_in, submit
from tests.conftest import TOKEN
from tests.fake_upstream import make_key

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
MODEL = "gemini-2.5-flash"
PAGES = {"dashboard": "/admin/", "keys": "/admin/keys", "pools": "/admin/pools",
         "tokens": "/admin/tokens", "settings": "/admin/settings"}


#: Form controls a screen reader could not name: no <label>, no aria-label, no text.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length)
          && !el.getAttribute('aria-label') && !(el.tagName === 'BUTTON' && el.textContent.trim())
          && !(el.type === 'submit' && el.value))
  .map(el => el.outerHTML.slice(0, 160))"""


def _chat(live, n: int, content: str = "hi") -> list[requests.Response]:
    out = []
    for i in range(n):
        out.append(requests.post(f"{live.url}/v1/chat/completions",
                                 headers={"Authorization": f"Bearer {TOKEN}"},
                                 json={"model": MODEL, "messages": [{"role": "user", "content": f"{content} {i}"}]},
                                 timeout=20))
    return out


def test_paste_keys_disable_one_and_see_dead_keys_after_traffic(page, live_admin, upstream):
    made = [make_key("ui", i) for i in range(50)]
    dead = made[:3]
    for key in dead:
        upstream.set_key(key, "invalid")
    upstream.set_key(made[3], "rate_minute", retry_delay="120s")
    # Two workers: what one worker's page did, the other learns through the database.
    live = live_admin(workers=2)
    base = live.url
    page.goto(f"{base}/admin/login")
    shot(page, "login")
    sign_in(page, base)

    # A new install: the dashboard points to the keys page, whose paste box is open.
    page.get_by_role("link", name="Add keys").click()
    page.wait_for_url(f"{base}/admin/keys")
    expect(page.get_by_label("Paste keys")).to_be_visible()
    page.get_by_label("Paste keys").fill("Here are my keys:\n" + "\n".join(made) + "\nand one again " + made[0])
    submit(page, page.get_by_role("button", name="Add keys", exact=True).last)
    assert page.url == f"{base}/admin/keys"
    assert "50 added, 1 already present, 0 malformed" in page.locator(".alert-success").inner_text()
    html = page.content()
    for key in made:
        assert key not in html
    masks = page.locator("#keys-table td.key-mask").all_inner_texts()
    assert len(masks) == 50 and all(re.fullmatch(r"AIza….{3}", m) for m in masks)
    shot(page, "keys")

    # Select two keys and give them a quota group together; the bulk buttons wait for a selection.
    edit = page.locator('#bulk button[value="edit"]')
    assert edit.is_disabled()
    rows = page.locator("#keys-table tbody tr")
    picked = [rows.nth(i).get_attribute("data-key-id") for i in (4, 5)]
    for key_id in picked:
        page.get_by_label(f"Select key {key_id}", exact=True).check()
    assert page.locator("[data-selection-count]").inner_text() == "2"
    edit.click()
    page.get_by_label("Change the quota group").check()
    page.get_by_label("Quota group", exact=True).fill("project-blue")
    submit(page, page.get_by_role("button", name="Save for the selected keys"))
    assert page.url == f"{base}/admin/keys"
    assert "Group set on 2 keys." in page.locator(".alert-success").inner_text()
    for key_id in picked:
        assert "project-blue" in page.locator(f'#keys-table tr[data-key-id="{key_id}"]').inner_text()

    # Disable the last key from its row.
    last_id = page.locator("#keys-table tbody tr").last.get_attribute("data-key-id")
    submit(page, page.get_by_role("button", name=f"Disable key {last_id}"))
    row = page.locator(f'#keys-table tr[data-key-id="{last_id}"]')
    assert row.get_attribute("data-status") == "switched_off"
    assert "off" in row.locator(".badge").first.inner_text()

    # Test the first key now, in place: it is dead, and says so. (The model-list fetch that
    # follows the paste may have found it dead already: then the test has nothing to change.)
    first_id = page.locator("#keys-table tbody tr").first.get_attribute("data-key-id")
    page.get_by_role("button", name=f"Test key {first_id} now").click()
    result = page.locator("#action-result")
    expect(result).to_contain_text("failed")
    assert "API_KEY_INVALID" in result.inner_text()
    assert page.locator(f'#keys-table tr[data-key-id="{first_id}"]').get_attribute("data-status") == "disabled"
    assert page.url == f"{base}/admin/keys"

    # Traffic through the proxy: the dead keys are found and benched, the disabled one never
    # called by either worker (the other one syncs within 0.5 s).
    time.sleep(1.5)
    answers = _chat(live, 60)
    assert all(r.status_code == 200 for r in answers), [r.status_code for r in answers]
    assert upstream.count(key=made[-1]) == 0
    time.sleep(1.5)  # the flusher writes within 0.5 s
    page.goto(f"{base}/admin/keys?status=disabled")
    dead_rows = page.locator("#keys-table tbody tr[data-key-id]")
    assert dead_rows.count() == 3
    text = page.locator("#keys-table").inner_text()
    assert text.count("dead") == 3 and "API_KEY_INVALID" in text
    shot(page, "keys-dead")
    page.goto(f"{base}/admin/keys?status=cooling")
    cooling = page.locator("#keys-table").inner_text()
    assert "cooling down" in cooling and "left" in cooling
    page.goto(f"{base}/admin/")
    expect(page.locator('[data-stat="hour.requests"]')).not_to_have_text("0")
    assert page.locator('[data-stat="keys.disabled"]').inner_text() == "3"
    assert page.locator('[data-stat="keys.switched_off"]').inner_text() == "1"
    assert "API_KEY_INVALID" in page.locator("#attention").inner_text()
    shot(page, "dashboard")


def test_the_dashboard_updates_without_a_reload(page, live_admin, upstream):
    live = live_admin([make_key("live", 0)])
    sign_in(page, live.url)
    assert page.locator('[data-stat="hour.requests"]').inner_text() == "0"
    _chat(live, 5)
    # The flusher writes within 0.5 s; the page polls every 5 s.
    expect(page.locator('[data-stat="hour.requests"]')).to_have_text("5", timeout=15000)
    assert page.url == f"{live.url}/admin/"


def test_a_strategy_change_is_followed_by_the_proxy(page, live_admin, upstream):
    keys = [make_key("strat", i) for i in range(20)]
    live = live_admin(keys)
    sign_in(page, live.url)

    def used(n: int) -> list[int]:
        return [int(r.headers["x-balancer-key"]) for r in _chat(live, n)]

    ids = sorted(set(used(20)))
    assert len(ids) == 20  # round robin: every key once
    sequence = used(20)
    # Round robin walks the keys in id order.
    assert all(ids.index(b) == (ids.index(a) + 1) % len(ids) for a, b in zip(sequence, sequence[1:]))

    page.goto(f"{live.url}/admin/settings")
    page.get_by_label("Requests per key").fill("5")
    submit(page, page.get_by_role("button", name="Save settings"))
    assert page.url == f"{live.url}/admin/settings"
    assert "Saved requests_per_key." in page.locator(".alert-success").inner_text()
    sticky = used(20)
    assert len(set(sticky)) == 4  # each key kept for 5 requests in a row

    page.get_by_label("Strategy").select_option("random")
    submit(page, page.get_by_role("button", name="Save settings"))
    assert "Saved strategy." in page.locator(".alert-success").inner_text()
    shot(page, "settings")
    shuffled = used(30)
    steps = [ids.index(b) - ids.index(a) for a, b in zip(shuffled, shuffled[1:])]
    # Random picks: not a walk in id order any more (chance of a false failure ~ 1e-30).
    assert any(step not in (0, 1, 1 - len(ids)) for step in steps)

    page.get_by_label("Max failures").fill("0")
    submit(page, page.get_by_role("button", name="Save settings"))
    assert page.locator("#max_failures.is-invalid").count() == 1
    assert "must be at least 1" in page.locator("#max_failures ~ .invalid-feedback").inner_text()


def test_dark_mode_is_remembered_and_pages_fit_a_phone(page, live_admin, upstream):
    live = live_admin([make_key("phone", i) for i in range(3)])
    sign_in(page, live.url)
    html = page.locator("html")
    assert html.get_attribute("data-bs-theme") == "light"
    page.get_by_role("button", name="Switch between dark and light mode").click()
    assert html.get_attribute("data-bs-theme") == "dark"
    page.reload()
    assert page.locator("html").get_attribute("data-bs-theme") == "dark"
    for name, path in PAGES.items():
        page.goto(f"{live.url}{path}")
        assert page.locator("html").get_attribute("data-bs-theme") == "dark", name
        assert page.evaluate(UNLABELLED) == [], f"controls without a label on {name}"
        shot(page, f"{name}-dark")

    page.set_viewport_size({"width": 375, "height": 740})
    for name, path in PAGES.items():
        page.goto(f"{live.url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at 375px"
        shot(page, f"{name}-phone")


def test_tokens_and_pools_in_the_browser(page, live_admin, upstream):
    live = live_admin([make_key("tokui", 0)])
    sign_in(page, live.url)
    page.goto(f"{live.url}/admin/tokens")
    page.get_by_label("Name").fill("browser client")
    submit(page, page.get_by_role("button", name="Create token"))
    token = page.locator("#token-value").input_value()
    assert token.startswith("bal-")
    shot(page, "tokens")
    ok = requests.get(f"{live.url}/v1/models", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert ok.status_code == 200
    page.reload()
    assert page.locator("#token-value").count() == 0 and token not in page.content()

    page.goto(f"{live.url}/admin/pools/new")
    page.get_by_label("Name").fill("groq")
    page.get_by_label("Kind").select_option("openai")
    page.get_by_label("Base URL").fill(f"{upstream.url}/openai/v1")
    page.get_by_label("Key strategy").select_option("least_used")
    submit(page, page.get_by_role("button", name="Save pool"))
    assert page.url == f"{live.url}/admin/pools"
    card = page.locator('[data-pool="groq"]')
    assert "least_used" in card.inner_text()
    shot(page, "pools")
