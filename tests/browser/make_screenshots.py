"""Make the README screenshots of the market page: docs/img/market.png (1440x900) and
docs/img/market-phone.png (390x844 at 2x).

    .venv/bin/python -m tests.browser.make_screenshots

Starts its own PostgreSQL (pgserver) and `lfg serve` on 127.0.0.1, and Chromium (Debian's
`chromium`, or LFG_CHROMIUM). Two bots trade a market over REST along a random walk; their
trades are then spread over the last day and a half in the database (a fresh server has no
history, and a chart of one candle shows nothing), so the 1h chart has candles. Then Alice,
through the UI like the tests, signs up, is credited on the admin page, opens the market,
buys, rests a bid, and fills in the order form; a few more live trades land while she
watches. Nothing here is a test: it only makes pictures (and is deterministic up to time).
"""

import asyncio
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from playwright.async_api import async_playwright, expect

from tests.browser import ui

OUT = ui.ROOT / "docs" / "img"
TICKER = "RAIN-LIS-0715"
TITLE = "Will it rain in Lisbon on July 15?"
RULES = (
    "Resolves YES if IPMA reports at least 0.2 mm of precipitation at Lisboa/Geofísico "
    "on July 15 (local time); otherwise NO."
)
HOURS = 36
BOT_PASSWORD = "Bot-Password-1234!"


class Bots:
    """A market maker and a taker, trading over REST."""

    def __init__(self, http: httpx.AsyncClient, maker: str, taker: str) -> None:
        self.http = http
        self.maker = {"Authorization": f"Bearer {maker}"}
        self.taker = {"Authorization": f"Bearer {taker}"}

    async def order(self, who: dict[str, str], **fields: Any) -> dict[str, Any]:
        r = await self.http.post("/orders", json={"market": TICKER, **fields}, headers=who)
        assert r.status_code == 201, r.text
        order: dict[str, Any] = r.json()["order"]
        return order

    async def trade(self, price: int, qty: int, taker_buys_yes: bool) -> None:
        """One trade at `price` (YES cents): the maker rests, the taker takes it."""
        if taker_buys_yes:
            await self.order(self.maker, side="buy", outcome="no", price=100 - price, qty=qty)
            o = await self.order(
                self.taker, side="buy", outcome="yes", price=price, qty=qty, tif="ioc"
            )
        else:
            await self.order(self.maker, side="buy", outcome="yes", price=price, qty=qty)
            o = await self.order(
                self.taker, side="buy", outcome="no", price=100 - price, qty=qty, tif="ioc"
            )
        assert o["filled_qty"] == qty, o

    async def quote(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """Rest YES bids and YES asks (as NO bids) at (price, qty)."""
        for price, qty in bids:
            await self.order(self.maker, side="buy", outcome="yes", price=price, qty=qty)
        for price, qty in asks:
            await self.order(self.maker, side="buy", outcome="no", price=100 - price, qty=qty)


async def setup_market(url: str, dsn: str) -> Bots:
    http = httpx.AsyncClient(base_url=url + "/api/v1", timeout=10)
    r = await http.post(
        "/auth/login", json={"email": ui.ADMIN_EMAIL, "password": ui.ADMIN_PASSWORD}
    )
    admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await http.post(
        "/admin/markets",
        json={
            "ticker": TICKER,
            "title": TITLE,
            "rules": RULES,
            "close_ts": int(time.time() * 1000) + 9 * 86_400_000,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    tokens = []
    for name in ("maker", "taker"):
        email = f"{name}-bot@screens.lfg"
        r = await http.post("/auth/register", json={"email": email, "password": BOT_PASSWORD})
        assert r.status_code == 201, r.text
        uid = r.json()["user_id"]
        r = await http.post(
            f"/admin/users/{uid}/credit", json={"amount": 50_000_000}, headers=admin
        )
        assert r.status_code == 200, r.text
        r = await http.post("/auth/login", json={"email": email, "password": BOT_PASSWORD})
        tokens.append(r.json()["access_token"])
    bots = Bots(http, tokens[0], tokens[1])

    # History: a noisy climb from the mid 40s to about 60¢ with a dip on the way.
    rng = random.Random(7)
    price = 45.0
    path: list[tuple[int, int, bool]] = []
    for hour in range(HOURS):
        target = 45 + 15 * hour / HOURS + 4 * math.sin(hour / 4)
        for _ in range(rng.randint(2, 5)):
            price += 0.3 * (target - price) + rng.gauss(0, 1.3)
            qty = rng.choice((5, 10, 10, 20, 25, 40, 60))
            path.append((round(min(90, max(10, price))), qty, rng.random() < 0.55))
    for p, q, up in path:
        await bots.trade(p, q, up)

    # Spread those trades over the last HOURS hours, oldest first.
    conn = await asyncpg.connect(dsn)
    try:
        now = int(time.time() * 1000)
        rows = await conn.fetch(
            "SELECT trade_no FROM trades WHERE market = $1 ORDER BY trade_no", TICKER
        )
        n = len(rows)
        start = now - HOURS * 3_600_000
        stamps = [
            (TICKER, r["trade_no"], start + (i * HOURS * 3_600_000) // n + rng.randint(0, 60_000))
            for i, r in enumerate(rows)
        ]
        await conn.executemany(
            "UPDATE trades SET ts = $3 WHERE market = $1 AND trade_no = $2", stamps
        )
        await conn.executemany(
            "UPDATE fills SET ts = $3 WHERE market = $1 AND trade_no = $2", stamps
        )
    finally:
        await conn.close()

    last = path[-1][0]
    await bots.quote(
        bids=[
            (last - 1, 120),
            (last - 2, 340),
            (last - 3, 210),
            (last - 5, 800),
            (last - 6, 150),
            (last - 8, 1200),
        ],
        asks=[
            (last + 1, 90),
            (last + 2, 260),
            (last + 3, 400),
            (last + 4, 180),
            (last + 6, 950),
            (last + 9, 600),
        ],
    )
    return bots


async def main() -> int:
    chromium = ui.chromium_path()
    if chromium is None:
        print("Chromium not found: apt-get install chromium (or set LFG_CHROMIUM)", file=sys.stderr)
        return 1
    ui.ensure_web_dist()
    from server.db import LocalPostgres

    root = Path(tempfile.mkdtemp(prefix="lfgshots"))
    pg = LocalPostgres(root)
    server = ui.LfgServer(pg.create_database("screens"), root / "serve")
    try:
        server.start()
        bots = await setup_market(server.url, server.dsn)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ui.CHROMIUM_ARGS)
            admin = await ui.login(browser, server.url, ui.ADMIN_EMAIL, ui.ADMIN_PASSWORD)
            _, page = await ui.new_page(browser, server.url)
            email = await ui.register(page, "alice")
            await ui.admin_credit(admin, email, "2500")
            await expect(page.get_by_test_id("header-available")).to_contain_text("$2,500.00")
            await ui.open_market(page, TICKER)
            await expect(page.locator('tr[data-testid^="tape-row-"]').first).to_be_visible()
            best_ask = int((await page.get_by_test_id("market-ask").inner_text()).rstrip("¢"))

            # Alice lifts part of the best offer and rests a bid; the bots trade on.
            await ui.place(page, "buy", "yes", best_ask, 40)
            await ui.place_resting(page, "buy", "yes", best_ask - 4, 75)
            await bots.trade(best_ask, 15, True)
            await bots.trade(best_ask - 1, 30, False)
            await bots.trade(best_ask, 10, True)
            await bots.quote(bids=[(best_ask - 1, 140)], asks=[(best_ask, 60)])
            await expect(page.locator('tr[data-testid^="fill-row-"]')).to_have_count(1)

            # The order form, filled in from a ladder click, not sent.
            await page.get_by_test_id(f"ladder-bid-{best_ask - 2}").click()
            await ui.fill_order(page, "buy", "yes", best_ask - 2, 50)
            await page.get_by_test_id("order-qty").blur()
            await page.mouse.move(0, 0)
            # No toast over the picture ("Account created", ...); let the chart settle.
            await expect(page.get_by_test_id("toast")).to_have_count(0, timeout=15_000)
            await page.wait_for_timeout(300)

            OUT.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(OUT / "market.png"))

            # The phone: the same account in a phone-sized context.
            _, phone = await ui.new_page(browser, server.url, viewport=ui.PHONE, scale=2)
            await ui.goto(phone, "#/login")
            await phone.get_by_test_id("login-email").fill(email)
            await phone.get_by_test_id("login-password").fill(ui.PASSWORD)
            await phone.get_by_test_id("login-submit").click()
            await expect(phone.get_by_test_id("nav-user")).to_have_text(email)
            await ui.open_market(phone, TICKER)
            await ui.fill_order(phone, "buy", "yes", best_ask - 2, 50)
            await phone.get_by_test_id("order-qty").blur()
            await expect(phone.get_by_test_id("toast")).to_have_count(0, timeout=15_000)
            await phone.wait_for_timeout(300)
            await phone.screenshot(path=str(OUT / "market-phone.png"))
            await browser.close()
        await bots.http.aclose()
    finally:
        server.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    for name in ("market.png", "market-phone.png"):
        print(OUT / name)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
