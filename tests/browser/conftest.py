"""Browser-test fixtures: one `lfg serve` subprocess per module on its own fresh database
(the `pg_server` fixture's), one Chromium per session, a logged-in admin per module, and
per test two freshly signed-up, credited traders on a new market, all through the UI."""

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.browser import ui
from tests.conftest import new_database

# Where failing tests leave a screenshot of every page they had open.
FAILURES = ui.ARTIFACTS / "failures"


@pytest.fixture(scope="session")
def chromium() -> str:
    path = ui.chromium_path()
    if path is None or not Path(path).exists():
        msg = "Chromium not found: `apt-get install chromium` (or set LFG_CHROMIUM=/path)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium, args=ui.CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture(scope="module")
def server(pg_server: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ui.LfgServer]:
    try:
        ui.ensure_web_dist()
    except (RuntimeError, OSError) as exc:
        pytest.fail(str(exc))
    srv = ui.LfgServer(new_database(pg_server), tmp_path_factory.mktemp("lfg-serve"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@dataclass
class Pages:
    """Every page a test opened: JS errors are collected, and a failure screenshots them."""

    pages: dict[str, Page] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    owned: list[BrowserContext] = field(default_factory=list)

    async def open(self, browser: Browser, base_url: str, name: str, **kw: Any) -> Page:
        """A page in a new browser context of its own (closed after the test)."""
        _, page = await ui.new_page(browser, base_url, **kw)
        self.watch(name, page)
        return page

    async def sign_up(self, browser: Browser, base_url: str, name: str) -> ui.User:
        page = await self.open(browser, base_url, name)
        email = await ui.register(page, name)
        return ui.User(email, page, page.context)

    def watch(self, name: str, page: Page, *, own: bool = True) -> None:
        """Watch `page`; its context is closed after the test unless `own` is false."""
        self.pages[name] = page
        page.on("pageerror", lambda exc: self.errors.append(f"{name}: {exc}"))
        if own:
            self.owned.append(page.context)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest_asyncio.fixture(loop_scope="session")
async def pages(request: pytest.FixtureRequest) -> AsyncIterator[Pages]:
    watched = Pages()
    yield watched
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        for name, page in watched.pages.items():
            if not page.is_closed():
                path = FAILURES / f"{request.node.name}-{name}.png"
                await page.screenshot(path=str(path), full_page=True)
    for context in watched.owned:
        await context.close()
    assert not watched.errors, f"uncaught errors in the page: {watched.errors}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin(browser: Browser, server: ui.LfgServer) -> AsyncIterator[ui.User]:
    user = await ui.login(browser, server.url, ui.ADMIN_EMAIL, ui.ADMIN_PASSWORD)
    try:
        yield user
    finally:
        await user.context.close()


@dataclass
class Traders:
    a: ui.User
    b: ui.User
    admin: ui.User
    ticker: str
    cash: int  # cents each trader was credited


@pytest_asyncio.fixture(loop_scope="session")
async def traders(browser: Browser, server: ui.LfgServer, admin: ui.User, pages: Pages) -> Traders:
    """Two users who signed up in their own browser contexts, were credited $100.00 each
    through the admin page, and both have the same new market (created there) open."""
    a, b = await asyncio.gather(
        pages.sign_up(browser, server.url, "alice"), pages.sign_up(browser, server.url, "bob")
    )
    pages.watch("admin", admin.page, own=False)
    ticker = ui.new_ticker("UI")
    await ui.admin_create_market(
        admin, ticker, f"Will the browser test {ticker} pass?", "Resolves YES if it passes."
    )
    for u in (a, b):
        await ui.admin_credit(admin, u.email, "100")
    await asyncio.gather(ui.open_market(a.page, ticker), ui.open_market(b.page, ticker))
    for u in (a, b):
        await expect(u.page.get_by_test_id("header-available")).to_contain_text("$100.00")
    return Traders(a, b, admin, ticker, 10_000)
