"""Headless Chromium for tests, driven by Playwright, that may reach loopback addresses only.

Playwright drives Debian's /usr/bin/chromium (apt-get install chromium) through
`executable_path`; `playwright install` is never run, since it downloads a browser build.
Every request the page makes is seen by a route handler: loopback ones go through, any
other is aborted and recorded, so a test can assert that nothing left the machine.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
TIMEOUT_MS = 60_000  # a bound on a hang: Chromium is slow to start on a loaded machine
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about"}  # never leave the page
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Session:
    """An open page, and the URLs it asked for that were not local (aborted)."""

    page: Page
    outside: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        url = route.request.url
        split = urlsplit(url)
        if split.scheme in LOCAL_SCHEMES or split.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort("blockedbyclient")


def require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium "
            "(apt-get install -y chromium; CI's .ci/run installs it), "
            "or point CHROMIUM at a Chromium binary"
        )


@contextmanager
def chromium_page() -> Iterator[Session]:
    """A fresh headless Chromium page (own temporary profile), closed on exit."""
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            session = Session(page)
            context.route("**/*", session.route)
            yield session
            context.close()
        finally:
            browser.close()
