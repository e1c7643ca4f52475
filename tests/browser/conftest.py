"""Browser-test fixtures: one `lfg serve` subprocess per module on its own fresh database
(the `pg_server` fixture's), one Chromium per session, a logged-in admin per module, and
per test two freshly signed-up, credited traders on a new market, all through the UI."""

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    Error,
    Page,
    async_playwright,
    expect,
)

from tests.browser import ui
from tests.conftest import missing_tool, new_database

# Where failing tests leave a screenshot of every page they had open.
FAILURES = ui.ARTIFACTS / "failures"


@pytest.fixture(scope="session")
def chromium() -> str:
    path = ui.chromium_path()
    if path is None or not Path(path).exists():
        missing_tool("Chromium not found: `apt-get install chromium` (or set LFG_CHROMIUM=/path)")
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    shutil.rmtree(FAILURES, ignore_errors=True)  # only this run's failures
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
    """The pages a test uses: their uncaught JS errors fail the test, a failing test leaves
    a full-page screenshot of each in test-artifacts/failures/."""

    pages: dict[str, Page] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    owned: list[BrowserContext] = field(default_factory=list)
    listeners: list[tuple[Page, Callable[[Error], None]]] = field(default_factory=list)

    async def open(self, browser: Browser, base_url: str, name: str, **kw: Any) -> Page:
        """A page in a new browser context of its own (closed after the test)."""
        _, page = await ui.new_page(browser, base_url, **kw)
        self.watch(name, page, own=True)
        return page

    async def sign_up(self, browser: Browser, base_url: str, name: str) -> ui.User:
        page = await self.open(browser, base_url, name)
        email = await ui.register(page, name)
        return ui.User(email, page, page.context)

    def watch(self, name: str, page: Page, *, own: bool = False) -> None:
        """Watch `page` for this test; `own`: close its context after the test."""
        self.pages[name] = page

        def on_error(exc: Error) -> None:
            self.errors.append(f"{name}: {exc}")

        page.on("pageerror", on_error)
        self.listeners.append((page, on_error))
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
    for page, listener in watched.listeners:
        page.remove_listener("pageerror", listener)
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


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def duo(
    browser: Browser, server: ui.LfgServer, admin: ui.User
) -> AsyncIterator[tuple[ui.User, ui.User]]:
    """Alice and Bob: signed up in their own browser contexts, credited $1,000.00 each on
    the admin page. Shared by the module's tests (each trades on a market of its own)."""
    users: list[ui.User] = []
    try:
        for _ in range(2):
            context, page = await ui.new_page(browser, server.url)
            users.append(ui.User("", page, context))
        emails = await asyncio.gather(
            *(ui.register(u.page, n) for u, n in zip(users, ("alice", "bob"), strict=True))
        )
        for u, email in zip(users, emails, strict=True):
            u.email = email
            await ui.admin_credit(admin, email, "1000")
        for u in users:
            await expect(u.page.get_by_test_id("header-available")).to_contain_text("$1,000.00")
        yield users[0], users[1]
    finally:
        for u in users:
            await u.context.close()


@dataclass
class Traders:
    a: ui.User
    b: ui.User
    admin: ui.User
    ticker: str
    cash_a: int  # available cash (cents) when the test starts
    cash_b: int


@pytest_asyncio.fixture(loop_scope="session")
async def traders(duo: tuple[ui.User, ui.User], admin: ui.User, pages: Pages) -> Traders:
    """Alice and Bob with the same new market (created on the admin page) open."""
    a, b = duo
    for name, u in (("alice", a), ("bob", b), ("admin", admin)):
        pages.watch(name, u.page)
    ticker = ui.new_ticker("UI")
    await ui.admin_create_market(
        admin, ticker, f"Will the browser test {ticker} pass?", "Resolves YES if it passes."
    )
    await asyncio.gather(ui.open_market(a.page, ticker), ui.open_market(b.page, ticker))
    cash_a, cash_b = await asyncio.gather(ui.read_cash(a.page), ui.read_cash(b.page))
    return Traders(a, b, admin, ticker, cash_a, cash_b)
