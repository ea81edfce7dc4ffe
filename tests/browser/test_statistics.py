"""The statistics page in a browser: charts drawn from live traffic, a range switch, a screenshot."""
from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.browser.conftest import shot, sign_in
from tests.conftest import TOKEN
from tests.fake_upstream import make_key


def api_rows(page, expected: dict[str, str]) -> None:
    """The table per API shows each dialect's name and request count, busiest first."""
    rows = page.locator("#breakdown-api tbody tr")
    expect(rows).to_have_count(len(expected))
    got = {rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i).locator("td").nth(1)
           .inner_text() for i in range(len(expected))}
    assert got == expected


def test_charts_render_and_follow_the_range_picker(page, live_admin, upstream):
    keys = [make_key("bstats", i) for i in range(3)]
    upstream.set_key(keys[2], "invalid")
    live = live_admin(keys)
    base = live.url
    for i in range(12):
        body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": f"hi {i}"}],
                "stream": i % 3 == 0}
        resp = requests.post(f"{base}/v1/chat/completions", json=body, timeout=30,
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200
    requests.post(f"{base}/v1/chat/completions", json={"model": "bad model", "messages": []},
                  headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    # The same pool through two more dialects: the table per API tells them apart.
    assert requests.post(f"{base}/v1beta/models/gemini-2.5-flash:generateContent", timeout=30,
                         json={"contents": [{"parts": [{"text": "hi"}]}]},
                         headers={"x-goog-api-key": TOKEN}).status_code == 200
    assert requests.post(f"{base}/v1/messages", timeout=30,
                         json={"model": "gemini-2.5-flash", "max_tokens": 64,
                               "messages": [{"role": "user", "content": "hi"}]},
                         headers={"x-api-key": TOKEN,
                                  "anthropic-version": "2023-06-01"}).status_code == 200
    sign_in(page, base)
    page.get_by_role("link", name="Statistics").click()
    page.wait_for_url(f"{base}/admin/statistics")
    # The flusher writes within a second or two; the page shows what is flushed.
    page.wait_for_timeout(2500)
    page.get_by_label("Time range").select_option("1h")
    expect(page.locator('[data-total="requests"]')).to_have_text("15")
    for canvas in ("chart-requests", "chart-tokens", "chart-latency"):
        box = page.locator(f"#{canvas}").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100
    assert page.evaluate("() => Object.keys(Chart.instances).length") == 3
    expect(page.locator("#breakdown-key tbody tr")).to_have_count(3)  # two good keys, the dead one
    keys_table = page.locator("#breakdown-key").inner_text()
    assert f"{keys[0][:4]}…{keys[0][-3:]}" in keys_table and keys[0] not in page.content()
    api_rows(page, {"OpenAI chat": "13", "Gemini": "1", "Anthropic Messages": "1"})
    shot(page, "statistics-1h")

    page.get_by_label("Time range").select_option("30d")
    expect(page.locator("#stats-window")).to_have_text(re.compile("per day"))
    assert page.locator('[data-total="requests"]').inner_text() == "15"
    api_rows(page, {"OpenAI chat": "13", "Gemini": "1", "Anthropic Messages": "1"})
    page.get_by_label("Granularity").select_option("hour")
    expect(page.locator("#stats-window")).to_have_text(re.compile("per hour"))
    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    page.set_viewport_size({"width": 390, "height": 844})
    # Chart.js resizes its canvases on the next frames: judge the page once it has reflowed
    # (a page that stays too wide fails here after the timeout).
    page.wait_for_function("() => document.documentElement.scrollWidth <= window.innerWidth",
                           timeout=5000)
    shot(page, "statistics-30d-phone-dark")
