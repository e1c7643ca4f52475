"""Helpers for the browser tests and the docs screenshots: a real `lfg serve` subprocess,
Chromium through Playwright, and the UI steps (sign up, admin credit, create and resolve
markets, place orders) done the way a person does them, through `data-testid`s."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect

from server import config

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
DIST = WEB / "dist"
ARTIFACTS = ROOT / "test-artifacts"

ADMIN_EMAIL = "admin@browser.lfg"
ADMIN_PASSWORD = "Admin-Browser-1234!"
PASSWORD = "Trader-Browser-1234!"
JWT_SECRET = "browser-test-secret-" + "z" * 40

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


# ---------------------------------------------------------------------------- environment


def chromium_path() -> str | None:
    """Debian's Chromium (`apt-get install chromium`), or LFG_CHROMIUM."""
    explicit = os.environ.get("LFG_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def ensure_web_dist() -> None:
    """The server serves `web/dist`: build it when missing (what `make web` does)."""
    if (DIST / "index.html").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "web/dist is missing and npm is not installed: build the UI first "
            "(`make web`, or `cd web && npm ci && npm run build`)"
        )
    if not (WEB / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)
    if not (DIST / "index.html").exists():
        raise RuntimeError("`npm run build` did not produce web/dist/index.html")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LfgServer:
    """`lfg serve` as a subprocess on a free 127.0.0.1 port, on the database `dsn`.

    Rate limits are off: a test clicks far faster than a person, all from 127.0.0.1."""

    def __init__(self, dsn: str, data_dir: Path) -> None:
        self.dsn = dsn
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.dsn,
            "LFG_JWT_SECRET": JWT_SECRET,
            "LFG_ADMIN_EMAIL": ADMIN_EMAIL,
            "LFG_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LFG_SHARDS": "2",
            "LFG_LOG_LEVEL": "WARNING",
        }
        for field in config.Settings.__struct_fields__:
            if field.startswith("rate_"):
                env[config.env_name(field)] = "off"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "server.cli", "serve"),
                    *("--host", "127.0.0.1", "--port", str(self.port)),
                    *("--data-dir", str(self.data_dir)),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        end = time.monotonic() + timeout
        with httpx.Client(timeout=2) as h:
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"lfg serve exited {self.proc.returncode}:\n{self.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if h.get(self.url + "/ready").status_code == 200:
                        index = h.get(self.url + "/")
                        if index.status_code != 200 or "<html" not in index.text.lower():
                            raise RuntimeError(f"the server does not serve web/dist at /: {index}")
                        return
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"lfg serve not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ---------------------------------------------------------------------------------- users


@dataclass
class User:
    email: str
    page: Page
    context: BrowserContext


def new_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@browser.lfg"


def new_ticker(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:6].upper()}"


def money(cents: int) -> str:
    """Integer cents as the UI prints them: 123456 → "$1,234.56"."""
    return f"${cents // 100:,}.{cents % 100:02d}"


async def new_page(
    browser: Browser, base_url: str, viewport: dict[str, int] | None = None, scale: float = 1
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        base_url=base_url,
        viewport=viewport or DESKTOP,  # type: ignore[arg-type]
        device_scale_factor=scale,
        is_mobile=bool(viewport and viewport["width"] < 600),
        has_touch=bool(viewport and viewport["width"] < 600),
        locale="en-US",
        timezone_id="UTC",
    )
    page = await context.new_page()
    return context, page


async def goto(page: Page, route: str) -> None:
    """Open a hash route (`#/markets`, `#/market/T`, ...) and wait for the live connection."""
    await page.goto("/" + route)
    await expect(page.get_by_test_id("conn-status")).to_have_attribute("data-state", "live")


async def register(page: Page, tag: str) -> str:
    """Sign up through the form; the UI logs the new user in. Returns the email."""
    email = new_email(tag)
    await goto(page, "#/register")
    await page.get_by_test_id("register-email").fill(email)
    await page.get_by_test_id("register-password").fill(PASSWORD)
    await expect(page.get_by_test_id("password-rule-special")).to_have_attribute("data-ok", "true")
    await page.get_by_test_id("register-submit").click()
    await expect(page.get_by_test_id("nav-user")).to_have_text(email)
    await expect(page.get_by_test_id("header-available")).to_contain_text("$0.00")
    return email


async def login(browser: Browser, base_url: str, email: str, password: str) -> User:
    context, page = await new_page(browser, base_url)
    await goto(page, "#/login")
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("nav-user")).to_have_text(email)
    return User(email, page, context)


# ---------------------------------------------------------------------------------- admin


async def admin_page(admin: User) -> Page:
    page = admin.page
    if not page.url.endswith("#/admin"):
        await goto(page, "#/admin")
    await expect(page.get_by_test_id("admin-page")).to_be_visible()
    return page


async def admin_create_market(admin: User, ticker: str, title: str, rules: str) -> None:
    page = await admin_page(admin)
    await page.get_by_test_id("admin-create-ticker").fill(ticker)
    await page.get_by_test_id("admin-create-title").fill(title)
    await page.get_by_test_id("admin-create-rules").fill(rules)
    await page.get_by_test_id("admin-create-submit").click()
    await expect(page.get_by_test_id("admin-create-msg")).to_have_text(f"Market {ticker} created.")
    await expect(page.get_by_test_id(f"admin-status-{ticker}")).to_have_text("open")


async def admin_credit(admin: User, email: str, dollars: str) -> None:
    page = await admin_page(admin)
    await page.get_by_test_id("admin-user-email").fill(email)
    await page.get_by_test_id("admin-user-search").click()
    submit = page.get_by_test_id("admin-credit-submit")
    await expect(submit).to_have_text(f"Credit {email}")
    await page.get_by_test_id("admin-credit-amount").fill(dollars)
    await submit.click()
    await expect(page.get_by_test_id("admin-credit-msg")).to_contain_text(f"to {email}.")


async def admin_resolve(admin: User, ticker: str, result: str) -> None:
    page = await admin_page(admin)
    await page.get_by_test_id(f"admin-resolve-result-{ticker}").select_option(result)
    await page.get_by_test_id(f"admin-resolve-{ticker}").click()
    dialog = page.get_by_test_id("confirm-dialog")
    await expect(dialog).to_contain_text(f"Resolve {ticker} as {result.upper()}?")
    await dialog.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("admin-markets-msg")).to_have_text(
        f"{ticker} resolved {result.upper()}."
    )
    await expect(page.get_by_test_id(f"admin-status-{ticker}")).to_have_text(
        f"resolved · {result.upper()}"
    )


# --------------------------------------------------------------------------------- market


async def open_market(page: Page, ticker: str) -> None:
    """Open the market page and wait until the book snapshot has arrived."""
    await goto(page, f"#/market/{ticker}")
    await expect(page.get_by_test_id("market-status")).to_contain_text("open")
    await expect(page.get_by_test_id("ladder")).not_to_have_class(re.compile(r"is-stale"))
    await expect(page.get_by_test_id("book-seq")).to_have_text(re.compile(r"seq \d+"))


async def fill_order(
    page: Page,
    side: str,
    outcome: str,
    price: int,
    qty: int,
    *,
    type_: str = "limit",
    tif: str = "gtc",
    post_only: bool = False,
) -> None:
    """Fill in the order form without sending it."""
    await page.get_by_test_id("order-side").select_option(side)
    await page.get_by_test_id("order-outcome").select_option(outcome)
    await page.get_by_test_id("order-type").select_option(type_)
    await page.get_by_test_id("order-tif").select_option(tif)
    await page.get_by_test_id("order-price").fill(str(price))
    await page.get_by_test_id("order-qty").fill(str(qty))
    await page.get_by_test_id("order-post-only").set_checked(post_only)
    label = f"{side.capitalize()} {outcome.upper()} · {qty} @ "
    await expect(page.get_by_test_id("order-submit")).to_contain_text(label)


async def place(page: Page, side: str, outcome: str, price: int, qty: int, **kw: object) -> None:
    """Fill in and send an order; wait for the exchange's `placed` reply."""
    await fill_order(page, side, outcome, price, qty, **kw)  # type: ignore[arg-type]
    await page.get_by_test_id("order-submit").click()
    await expect(page.get_by_test_id("order-result")).to_contain_text("Order ")
    await expect(page.get_by_test_id("order-error")).to_be_empty()


async def place_rejected(
    page: Page, side: str, outcome: str, price: int, qty: int, **kw: object
) -> str:
    """Send an order the exchange refuses; return the error text the UI shows."""
    await fill_order(page, side, outcome, price, qty, **kw)  # type: ignore[arg-type]
    await page.get_by_test_id("order-submit").click()
    error = page.get_by_test_id("order-error")
    await expect(error).not_to_be_empty()
    await expect(page.get_by_test_id("order-result")).to_be_empty()
    return await error.inner_text()


async def read_cash(page: Page) -> int:
    """The available cash in the header, in cents."""
    cash = page.get_by_test_id("header-available").locator(".num")
    await expect(cash).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    return int(re.sub(r"[$,.]", "", await cash.inner_text()))


def open_order_rows(page: Page):  # type: ignore[no-untyped-def]
    """The open-orders table rows (not the `open-order-remaining-*` cells)."""
    return page.locator('tr[data-testid^="open-order-"]')


async def open_order_ids(page: Page) -> list[str]:
    ids = []
    for testid in await open_order_rows(page).evaluate_all(
        "rows => rows.map(r => r.dataset.testid)"
    ):
        ids.append(testid.removeprefix("open-order-"))
    return ids


async def place_resting(page: Page, side: str, outcome: str, price: int, qty: int) -> str:
    """Place a GTC limit order that rests; return its order id from the open-orders table."""
    before = set(await open_order_ids(page))
    await place(page, side, outcome, price, qty)
    await expect(page.get_by_test_id("order-result")).to_contain_text("Order open")
    rows = open_order_rows(page)
    await expect(rows).to_have_count(len(before) + 1)
    (new,) = set(await open_order_ids(page)) - before
    return new
