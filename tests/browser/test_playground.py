"""The playground in a real browser: a streamed answer grows, then the saved-prompt round trip."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot, sign_in, submit
from tests.browser.test_admin_ui import UNLABELLED
from tests.fake_upstream import make_key

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
MODEL = "gemini-2.5-flash"
MESSAGE = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"
ANSWER = f"Echo: {MESSAGE}"


def _answer_lengths(page, until: float) -> list[int]:
    """The answer's length, sampled until it is complete (or ``until`` passes)."""
    seen = []
    answer = page.locator("#playground-answer")
    while time.monotonic() < until:
        seen.append(len(answer.inner_text()))
        if answer.get_attribute("data-state") in ("done", "error"):
            break
        page.wait_for_timeout(50)
    return seen


def test_a_streamed_answer_grows_then_the_prompt_is_saved_reloaded_and_deleted(page, live_admin,
                                                                                 upstream):
    keys = [make_key("play", i) for i in range(2)]
    live = live_admin(keys)
    base = live.url
    # Thirteen words in twelve chunks, a quarter second apart: about three seconds of stream.
    upstream.configure(chunks=12, chunk_delay=0.25)
    sign_in(page, base)

    # A fresh install has no model lists yet: fetch them as an operator would.
    page.goto(f"{base}/admin/pools")
    submit(page, page.get_by_role("button", name="Refresh every model list"))
    assert page.url == f"{base}/admin/pools"

    page.get_by_role("link", name="Playground").click()
    page.wait_for_url(f"{base}/admin/playground")
    assert page.evaluate(UNLABELLED) == []
    page.get_by_label("Pool").select_option("gemini")
    page.get_by_label("Model").select_option(MODEL)
    page.get_by_label("System prompt").fill("Repeat after me.")
    page.get_by_label("Message").fill(MESSAGE)
    page.get_by_label("Temperature").fill("0.4")
    page.get_by_label("Max tokens").fill("300")
    expect(page.get_by_label("Stream the answer")).to_be_checked()
    page.get_by_role("button", name="Send").click()

    lengths = _answer_lengths(page, time.monotonic() + 20)
    answer = page.locator("#playground-answer")
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer).to_have_text(ANSWER)
    # Seen part-way: more than empty, less than all, and growing more than once.
    partial = sorted({n for n in lengths if 0 < n < len(ANSWER)})
    assert len(partial) >= 2, lengths
    assert lengths == sorted(lengths), "the answer only ever grows"

    key_text = page.locator("#fact-key").inner_text()
    assert re.fullmatch(r"AIza….{3} \(#\d+\)", key_text), key_text
    assert page.locator("#fact-attempts").inner_text() == "1"
    tokens_in, tokens_out = page.locator("#fact-tokens").inner_text().split(" / ")
    # One token a word, as the fake counts, plus its thinking: Gemini bills thoughts as output.
    assert int(tokens_in) > 0 and int(tokens_out) >= len(ANSWER.split())
    assert re.fullmatch(r"\d+ ms", page.locator("#fact-latency").inner_text())
    assert re.fullmatch(r"\d+ ms", page.locator("#fact-ttfb").inner_text())
    html = page.content()
    assert not any(key in html for key in keys)
    shot(page, "playground")

    # Save the form, reload the page (the form starts blank), load it back, delete it.
    page.get_by_label("Save as").fill("nato alphabet")
    page.get_by_role("button", name="Save prompt").click()
    page.wait_for_url(re.compile(r".*/admin/playground\?prompt=\d+$"))
    expect(page.locator(".alert-success")).to_contain_text("Saved the prompt “nato alphabet”.")
    page.goto(f"{base}/admin/playground")
    expect(page.get_by_label("Message")).to_have_value("")
    saved = page.locator("#saved-prompts li", has_text="nato alphabet")
    expect(saved).to_have_count(1)
    saved.get_by_role("link", name="Load the saved prompt nato alphabet").click()
    page.wait_for_url(re.compile(r".*/admin/playground\?prompt=\d+$"))
    expect(page.get_by_label("Message")).to_have_value(MESSAGE)
    expect(page.get_by_label("System prompt")).to_have_value("Repeat after me.")
    expect(page.get_by_label("Model")).to_have_value(MODEL)
    expect(page.get_by_label("Temperature")).to_have_value("0.4")
    expect(page.get_by_label("Max tokens")).to_have_value("300")
    expect(page.get_by_label("Stream the answer")).to_be_checked()
    shot(page, "playground-saved")

    page.get_by_role("button", name="Delete the saved prompt nato alphabet").click()
    expect(page.get_by_role("heading", name="Delete the saved prompt “nato alphabet”?")).to_be_visible()
    page.get_by_role("button", name="Delete the prompt").click()
    page.wait_for_url(f"{base}/admin/playground")
    expect(page.locator(".alert-success")).to_contain_text("Deleted the saved prompt “nato alphabet”.")
    expect(page.locator("#saved-prompts-empty")).to_be_visible()

    # A bad value is refused with the reason beside the field; nothing is sent.
    page.get_by_label("Message").fill("hi")
    page.get_by_label("Temperature").fill("5")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#playground-error")).to_have_text("The temperature goes from 0 to 2.")
    expect(page.locator("#temperature")).to_have_class(re.compile(r"\bis-invalid\b"))

    # At phone width in dark mode, nothing scrolls sideways.
    page.get_by_role("button", name="Switch between dark and light mode").click()
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{base}/admin/playground")
    assert page.evaluate("document.documentElement.getAttribute('data-bs-theme')") == "dark"
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "playground-phone-dark")


def test_stop_ends_a_streamed_answer_and_the_log_says_the_client_went(page, live_admin, upstream):
    live = live_admin([make_key("stop", 0)])
    base = live.url
    # Forty chunks a quarter second apart: ten seconds of stream, stopped after the first few.
    upstream.configure(chunks=40, chunk_delay=0.25)
    sign_in(page, base)
    page.goto(f"{base}/admin/pools")
    submit(page, page.get_by_role("button", name="Refresh every model list"))
    page.goto(f"{base}/admin/playground")
    page.get_by_label("Pool").select_option("gemini")
    page.get_by_label("Model").select_option(MODEL)
    page.get_by_label("Message").fill(MESSAGE)
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_disabled()
    page.get_by_role("button", name="Send").click()

    answer = page.locator("#playground-answer")
    expect(answer).not_to_have_text("", timeout=10000)
    stop.click()
    expect(answer).to_have_attribute("data-state", "stopped")
    shown = answer.inner_text()
    assert 0 < len(shown) < len(ANSWER)
    page.wait_for_timeout(1500)  # six more chunks' time: nothing more arrives
    assert answer.inner_text() == shown
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(stop).to_be_disabled()

    # Balancer saw the browser go, closed the upstream, and logs it as the client's doing.
    deadline = time.monotonic() + 15
    rows = page.locator('#requests-table tbody tr[data-outcome="client_gone"]')
    while True:
        page.goto(f"{base}/admin/logs")
        if rows.count() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(rows).to_have_count(1)
    expect(page.locator("#requests-table tbody tr")).to_have_count(1)
