"""Browser tests: Playwright driving Debian's chromium against a live Balancer.

``make test`` installs chromium from Debian's packages when it is missing; no
test ever downloads a browser. Screenshots land in test-artifacts/screenshots/.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.live import ROOT, LiveBalancer

PASSWORD = "browser test password"
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the run (Debian's; never a downloaded one)."""
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not executable:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def live_admin(live_env):
    """Start a live Balancer (one worker, so the key rotation is observable) with an admin password."""
    running = []

    def run(keys=(), workers: int = 1, **extra) -> LiveBalancer:
        live = LiveBalancer(live_env(list(keys), ADMIN_PASSWORD=PASSWORD, **extra),
                            workers=workers).start()
        running.append(live)
        return live

    yield run
    for live in running:
        live.stop()


@pytest.fixture
def page(browser, live_admin):
    """A fresh browser context and page at a desktop size; console errors (CSP, 404) fail the test.

    It depends on ``live_admin`` so that it closes before the live Balancer stops.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    # A form refused with 400 is the page showing its validation errors, not a fault.
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and "status of 400" not in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", lambda resp: problems.append(f"{resp.status} {resp.url}")
            if resp.status >= 400 and resp.status != 400 else None)
    yield page
    context.close()
    assert not problems, f"browser console errors: {problems}"


def shot(page, name: str) -> None:
    """Save a full-page screenshot as a test artifact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def submit(page, control) -> None:
    """Click a control that sends a form, and wait for the answer page to load.

    The answer is often the same URL as the form (a redirect back, or the form again with its
    errors), so waiting for the URL would return at once and read the page before it changed.
    """
    with page.expect_navigation():
        control.click()


def sign_in(page, base: str) -> None:
    """Log in through the form as a person would."""
    page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url
    page.get_by_label("Admin password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/")
