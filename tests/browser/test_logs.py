"""Browser test of the logs page: a failed request found by typing its error text."""
from __future__ import annotations

import re
import time

import requests
from playwright.sync_api import expect

from tests.browser.conftest import shot, sign_in
from tests.conftest import TOKEN
from tests.fake_upstream import make_key

MODEL = "gemini-2.5-flash"


def _chat(live, content: str) -> requests.Response:
    return requests.post(f"{live.url}/v1/chat/completions", timeout=20,
                         headers={"Authorization": f"Bearer {TOKEN}"},
                         json={"model": MODEL, "messages": [{"role": "user", "content": content}]})


def test_find_a_failed_request_by_its_error_text_and_open_it(page, live_admin, upstream):
    made = [make_key("blog", i) for i in range(2)]
    live = live_admin(keys=made)
    base = live.url
    assert [_chat(live, f"hello {i}").status_code for i in range(3)] == [200] * 3
    # Both keys suspended: the upstream's message names the key, which must never show.
    for key in made:
        upstream.set_key(key, "suspended")
    failed = _chat(live, "this one fails")
    assert failed.status_code >= 400

    sign_in(page, base)
    page.get_by_role("link", name="Logs").click()
    page.wait_for_url(f"{base}/admin/logs")
    # The flusher writes every half second: wait until all four requests are listed.
    deadline = time.monotonic() + 15
    while page.locator("#requests-table tbody tr").count() < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    expect(page.locator("#requests-table tbody tr")).to_have_count(4)

    page.get_by_label("Error text").fill("has been SUSPENDED")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/admin/logs?*q=has+been+SUSPENDED*")
    rows = page.locator("#requests-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(str(failed.status_code))
    expect(rows.first).not_to_have_attribute("data-outcome", "success")
    expect(page.locator("#search-window")).to_contain_text("newest 50,000 requests")
    shot(page, "logs-search")

    rows.first.get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"/admin/logs/requests/\d+"))
    expect(page.locator("#status")).to_have_text(str(failed.status_code))
    expect(page.locator("#error-message")).to_contain_text("has been suspended")
    html = page.content()
    for key in made:
        assert key not in html
    shot(page, "logs-request")

    # At phone width the page scrolls the table, not the page.
    page.set_viewport_size({"width": 390, "height": 800})
    page.go_back()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "logs-phone")
