"""The web trading UI in Chromium against a real `lfg serve` subprocess.

Everything goes through the UI as a person would do it: users sign up in their own browser
contexts, the admin creates markets, credits users and resolves markets on the admin page,
traders use the order form, the ladder and the open-orders table. Every cross-user effect
(a bid on someone else's ladder, a fill, a payout) must arrive live, without a reload.
"""

from playwright.async_api import Browser, Page, expect

from tests.browser import ui
from tests.browser.conftest import Pages, Traders
from tests.server.ledger import assert_money_conserved

TAPE_ROWS = 'tr[data-testid^="tape-row-"]'
FILL_ROWS = 'tr[data-testid^="fill-row-"]'


def cash(page: Page):  # type: ignore[no-untyped-def]
    """The available cash in the header."""
    return page.get_by_test_id("header-available").locator(".num")


def ladder_qty(page: Page, side: str, price: int):  # type: ignore[no-untyped-def]
    return page.get_by_test_id(f"ladder-{side}-{price}").locator(".qty")


async def test_signup_admin_credit_and_new_market_reach_users_live(
    browser: Browser, server: ui.LfgServer, admin: ui.User, pages: Pages
) -> None:
    pages.watch("admin", admin.page)
    a = await pages.sign_up(browser, server.url, "alice")
    b = await pages.sign_up(browser, server.url, "bob")
    await ui.goto(b.page, "#/markets")

    ticker = ui.new_ticker("NEW")
    await ui.admin_create_market(admin, ticker, "Will a new market show up live?", "YES if so.")
    # B's markets list learns about the market from the `markets` channel, no reload.
    row = b.page.get_by_test_id(f"market-row-{ticker}")
    await expect(row).to_contain_text("Will a new market show up live?")
    await expect(row).to_contain_text("open")

    await ui.admin_credit(admin, a.email, "250.50")
    await ui.admin_credit(admin, b.email, "75")
    # The credit reaches each user's header over the `account` channel.
    await expect(cash(a.page)).to_have_text("$250.50")
    await expect(cash(b.page)).to_have_text("$75.00")

    await ui.goto(a.page, "#/account")
    await expect(a.page.get_by_test_id("balance-available")).to_have_text("$250.50")
    await expect(a.page.get_by_test_id("balance-held")).to_have_text("$0.00")
    await expect(a.page.get_by_test_id("account-user")).to_have_text(f"{a.email} · trader")

    await row.click()
    await expect(b.page.get_by_test_id("market-title")).to_have_text(
        "Will a new market show up live?"
    )
    await expect(b.page.get_by_test_id("order-available")).to_have_text("$75.00")


async def test_bid_shows_on_the_other_ladder_and_fills_update_both_users_live(
    traders: Traders,
) -> None:
    a, b = traders.a.page, traders.b.page
    ca, cb = traders.cash_a, traders.cash_b

    order_id = await ui.place_resting(a, "buy", "yes", 55, 10)
    row = a.get_by_test_id(f"open-order-{order_id}")
    await expect(row).to_have_attribute("data-status", "open")
    await expect(cash(a)).to_have_text(ui.money(ca - 550))  # 55¢ × 10 held

    # B sees the bid without reloading: YES view, then the NO view as an ask at 100 − 55.
    await expect(ladder_qty(b, "bid", 55)).to_have_text("10")
    await expect(b.get_by_test_id("market-bid")).to_have_text("55¢")
    await b.get_by_test_id("view-no").click()
    await expect(ladder_qty(b, "ask", 45)).to_have_text("10")
    await expect(b.get_by_test_id("quick-buy-no")).to_have_text("Buy NO 45¢")

    # B clicks the level (prefills NO @ 45) and buys 4 NO: a partial fill of A's bid.
    await b.get_by_test_id("ladder-ask-45").click()
    await expect(b.get_by_test_id("order-outcome")).to_have_value("no")
    await expect(b.get_by_test_id("order-price")).to_have_value("45")
    await ui.place(b, "buy", "no", 45, 4)
    await expect(b.get_by_test_id("order-result")).to_have_text(
        "Order filled: buy 4 NO @ 45¢, filled 4 @ avg 45¢."
    )

    await expect(row).to_have_attribute("data-status", "partially_filled")
    await expect(a.get_by_test_id(f"open-order-remaining-{order_id}")).to_have_text("6")
    await expect(ladder_qty(a, "bid", 55)).to_have_text("6")
    await expect(ladder_qty(b, "ask", 45)).to_have_text("6")
    for page, price in ((a, "55¢"), (b, "45¢")):  # the tape prints in each one's view
        tape = page.locator(TAPE_ROWS)
        await expect(tape).to_have_count(1)
        await expect(tape.first.locator("td").nth(1)).to_have_text(price)
        await expect(tape.first.locator("td").nth(2)).to_have_text("4")
        await expect(page.get_by_test_id("market-last")).to_have_text(price)
    await expect(a.locator(FILL_ROWS)).to_have_count(1)
    await expect(a.locator(FILL_ROWS).first).to_contain_text("buy YES")
    await expect(a.locator(FILL_ROWS).first).to_contain_text("maker")
    await expect(b.locator(FILL_ROWS).first).to_contain_text("buy NO")
    await expect(b.locator(FILL_ROWS).first).to_contain_text("taker")
    await expect(a.get_by_test_id("position-yes")).to_have_text("4")
    await expect(b.get_by_test_id("position-no")).to_have_text("4")
    await expect(cash(a)).to_have_text(ui.money(ca - 550))
    await expect(cash(b)).to_have_text(ui.money(cb - 4 * 45))

    # B takes the rest: A's order is filled and leaves A's open orders.
    await ui.place(b, "buy", "no", 45, 6)
    await expect(b.get_by_test_id("order-result")).to_contain_text("Order filled")
    await expect(row).to_have_count(0)
    await expect(ui.open_order_rows(a)).to_have_count(0)
    await expect(a.get_by_test_id("open-orders-count")).to_have_text("(0)")
    await expect(a.get_by_test_id("ladder-bid-55")).to_have_count(0)
    await expect(b.get_by_test_id("ladder-ask-45")).to_have_count(0)
    for page in (a, b):
        await expect(page.locator(TAPE_ROWS)).to_have_count(2)
        await expect(page.locator(FILL_ROWS)).to_have_count(2)
        await expect(page.get_by_test_id("market-volume")).to_have_text("10")
        await expect(page.get_by_test_id("market-oi")).to_have_text("10")
    await expect(a.get_by_test_id("position-yes")).to_have_text("10")
    await expect(a.get_by_test_id("position-avg")).to_have_text("55.0¢")
    await expect(b.get_by_test_id("position-no")).to_have_text("10")
    await expect(b.get_by_test_id("position-avg")).to_have_text("45.0¢")
    await expect(cash(a)).to_have_text(ui.money(ca - 550))
    await expect(cash(b)).to_have_text(ui.money(cb - 450))

    await ui.goto(a, "#/account")
    await expect(a.get_by_test_id("balance-available")).to_have_text(ui.money(ca - 550))
    await expect(a.get_by_test_id("balance-held")).to_have_text("$0.00")
    await expect(a.get_by_test_id(f"position-yes-{traders.ticker}")).to_have_text("10")
    await expect(a.get_by_test_id(f"position-no-{traders.ticker}")).to_have_text("0")


async def test_reduce_cancel_and_cancel_all_from_the_open_orders_table(
    traders: Traders,
) -> None:
    a, b, ca = traders.a.page, traders.b.page, traders.cash_a
    first = await ui.place_resting(a, "buy", "yes", 40, 10)
    second = await ui.place_resting(a, "buy", "yes", 38, 5)
    third = await ui.place_resting(a, "buy", "no", 30, 2)
    await expect(cash(a)).to_have_text(ui.money(ca - 400 - 190 - 60))
    await expect(ladder_qty(b, "bid", 40)).to_have_text("10")
    await expect(ladder_qty(b, "ask", 70)).to_have_text("2")  # NO bid 30 = YES ask 70

    # Reduce: the editor refuses a quantity that is not below the remaining one ...
    await a.get_by_test_id(f"reduce-order-{first}").click()
    qty = a.get_by_test_id(f"reduce-qty-{first}")
    await qty.fill("10")
    await a.get_by_test_id(f"reduce-confirm-{first}").click()
    await expect(a.get_by_test_id("open-orders-error")).to_have_text(
        "New remaining quantity must be a whole number from 1 to 9."
    )
    # ... and sends the new remaining quantity (Enter confirms).
    await qty.fill("4")
    await qty.press("Enter")
    await expect(a.get_by_test_id(f"open-order-remaining-{first}")).to_have_text("4")
    await expect(a.get_by_test_id("open-orders-error")).to_be_empty()
    await expect(a.get_by_test_id("toasts")).to_contain_text("Order reduced to 4 remaining.")
    await expect(ladder_qty(b, "bid", 40)).to_have_text("4")
    await expect(ladder_qty(a, "bid", 40)).to_have_text("4")
    await expect(cash(a)).to_have_text(ui.money(ca - 160 - 190 - 60))

    # Escape closes the editor without sending anything.
    await a.get_by_test_id(f"reduce-order-{second}").click()
    await a.get_by_test_id(f"reduce-qty-{second}").press("Escape")
    await expect(a.get_by_test_id(f"reduce-qty-{second}")).to_have_count(0)
    await expect(a.get_by_test_id(f"open-order-remaining-{second}")).to_have_text("5")

    # Cancel one order: its row and its ladder level go, its hold is released.
    await a.get_by_test_id(f"cancel-order-{second}").click()
    await expect(a.get_by_test_id(f"open-order-{second}")).to_have_count(0)
    await expect(a.get_by_test_id("toasts")).to_contain_text("Order cancelled.")
    await expect(b.get_by_test_id("ladder-bid-38")).to_have_count(0)
    await expect(cash(a)).to_have_text(ui.money(ca - 160 - 60))
    await expect(a.get_by_test_id("open-orders-count")).to_have_text("(2)")

    # Cancel all: the rest go, on both sides of the book.
    await a.get_by_test_id("cancel-all").click()
    await expect(ui.open_order_rows(a)).to_have_count(0)
    await expect(a.get_by_test_id("toasts")).to_contain_text("2 orders cancelled.")
    await expect(a.get_by_test_id("cancel-all")).to_be_disabled()
    for gone in (first, third):
        await expect(a.get_by_test_id(f"open-order-{gone}")).to_have_count(0)
    await expect(b.get_by_test_id("ladder-bid-40")).to_have_count(0)
    await expect(b.get_by_test_id("ladder-ask-70")).to_have_count(0)
    await expect(b.get_by_test_id("book-status")).to_have_text("No resting orders")
    await expect(cash(a)).to_have_text(ui.money(ca))


async def test_orders_that_break_a_rule_show_the_servers_error_text(traders: Traders) -> None:
    a, b, ca = traders.a.page, traders.b.page, traders.cash_a
    await ui.place_resting(a, "buy", "yes", 40, 10)
    await ui.place_resting(b, "buy", "no", 50, 5)  # = a YES ask at 50
    await expect(ladder_qty(a, "ask", 50)).to_have_text("5")
    available = ca - 400

    # Selling YES without holding any: insufficient_position, with the server's detail.
    text = await ui.place_rejected(a, "sell", "yes", 60, 5)
    assert "You don't hold enough contracts to sell" in text, text
    assert "selling 5 YES needs them held and unreserved; 0 are free" in text, text

    # A post-only bid that would cross B's offer.
    text = await ui.place_rejected(a, "buy", "yes", 50, 5, post_only=True)
    assert "Post-only order rejected" in text, text
    assert "post-only order would take liquidity" in text, text

    # Fill-or-kill for more than the book holds.
    text = await ui.place_rejected(a, "buy", "yes", 50, 6, tif="fok")
    assert "Fill-or-kill order could not be filled completely" in text, text
    assert "fill-or-kill order cannot fill completely" in text, text

    # A hold above the available cash: the form warns, the server refuses and says why.
    await ui.fill_order(a, "buy", "yes", 50, 100_000)
    await expect(a.get_by_test_id("order-warning")).to_be_visible()
    text = await ui.place_rejected(a, "buy", "yes", 50, 100_000)
    assert "Not enough available cash" in text, text
    assert f"order needs 5000000 cents; available is {available}" in text, text

    # Nothing happened: no new order, no trade, no money moved; the offer still rests.
    await expect(ui.open_order_rows(a)).to_have_count(1)
    await expect(a.locator(TAPE_ROWS)).to_have_count(0)
    await expect(ladder_qty(a, "ask", 50)).to_have_text("5")
    await expect(cash(a)).to_have_text(ui.money(available))

    # A client-side check never reaches the server: its own message, no order.
    await ui.fill_order(a, "buy", "yes", 50, 5)
    await a.get_by_test_id("order-price").fill("100")
    await a.get_by_test_id("order-submit").click()
    await expect(a.get_by_test_id("order-error")).to_have_text(
        "Price must be a whole number of cents from 1 to 99."
    )
    await expect(ui.open_order_rows(a)).to_have_count(1)


async def test_a_refused_order_leaves_credited_cash_and_payouts_untouched(
    browser: Browser, server: ui.LfgServer, traders: Traders, pages: Pages
) -> None:
    """Regression: a shard folded a user's pending cash deltas (a credit, a payout) into
    the account it locked for a buy and, when that buy was refused, never wrote them back."""
    b, ticker = traders.b.page, traders.ticker
    carol = await pages.sign_up(browser, server.url, "carol")
    c = carol.page
    await ui.admin_credit(traders.admin, carol.email, "100")
    await expect(cash(c)).to_have_text("$100.00")
    await ui.open_market(c, ticker)
    # The admin's credit is Carol's only cash movement so far; her first buy is refused.
    text = await ui.place_rejected(c, "buy", "yes", 50, 1000)
    assert "order needs 50000 cents; available is 10000" in text, text
    await ui.goto(c, "#/account")  # fresh from the server
    await expect(c.get_by_test_id("balance-available")).to_have_text("$100.00")
    await ui.open_market(c, ticker)
    await ui.place_resting(c, "buy", "yes", 60, 10)

    # A winner's payout, then a refused buy: the payout must stay.
    await ui.place(b, "buy", "no", 40, 10)
    await ui.admin_resolve(traders.admin, ticker, "yes")
    await expect(cash(c)).to_have_text(ui.money(10_000 - 600 + 1000))
    text = await ui.place_rejected(c, "buy", "yes", 50, 1)
    assert "This market is not open for trading" in text, text
    await ui.goto(c, "#/account")
    await expect(c.get_by_test_id("balance-available")).to_have_text(ui.money(10_000 - 600 + 1000))


async def test_admin_resolution_shows_the_result_and_pays_both_users_live(
    traders: Traders,
) -> None:
    a, b, ticker = traders.a.page, traders.b.page, traders.ticker
    ca, cb = traders.cash_a, traders.cash_b
    await ui.place_resting(a, "buy", "yes", 60, 10)
    await ui.place(b, "buy", "no", 40, 10)  # takes A's bid: A 10 YES @ 60, B 10 NO @ 40
    await expect(a.get_by_test_id("position-yes")).to_have_text("10")
    await expect(b.get_by_test_id("position-no")).to_have_text("10")
    resting = await ui.place_resting(a, "buy", "yes", 30, 5)  # cancelled by the resolution
    await expect(cash(a)).to_have_text(ui.money(ca - 600 - 150))
    await expect(cash(b)).to_have_text(ui.money(cb - 400))

    await ui.admin_resolve(traders.admin, ticker, "yes")

    for page in (a, b):
        await expect(page.get_by_test_id("market-status")).to_have_text("resolved · YES")
        await expect(page.get_by_test_id("market-banner")).to_have_text(
            "Resolved YES. Winning contracts paid $1.00."
        )
    # A's 10 YES pay $1.00 each and the resting bid's hold comes back; B's NO pay nothing.
    await expect(a.get_by_test_id(f"open-order-{resting}")).to_have_count(0)
    await expect(cash(a)).to_have_text(ui.money(ca - 600 + 1000))
    await expect(cash(b)).to_have_text(ui.money(cb - 400))
    # The contracts are paid out, so they are gone from both positions.
    await expect(a.get_by_test_id("position-yes")).to_have_text("0")
    await expect(b.get_by_test_id("position-no")).to_have_text("0")

    # Trading is over: the server's refusal is shown.
    text = await ui.place_rejected(b, "buy", "no", 40, 1)
    assert "This market is not open for trading" in text, text

    for page, expected in ((a, ca - 600 + 1000), (b, cb - 400)):
        await ui.goto(page, "#/account")
        await expect(page.get_by_test_id("balance-available")).to_have_text(ui.money(expected))
        await expect(page.get_by_test_id(f"position-row-{ticker}")).to_have_count(0)
    await expect(a.get_by_test_id(f"open-order-{resting}")).to_have_count(0)


async def test_market_page_fits_desktop_and_phone_widths_and_is_saved_as_screenshots(
    traders: Traders,
) -> None:
    a, b = traders.a.page, traders.b.page
    for price, qty in ((55, 10), (54, 25), (52, 40)):
        await ui.place_resting(a, "buy", "yes", price, qty)
    for price, qty in ((40, 15), (38, 30)):  # NO bids: YES asks at 60 and 62
        await ui.place_resting(b, "buy", "no", price, qty)
    await ui.place(b, "buy", "no", 45, 4)
    await expect(a.locator(TAPE_ROWS)).to_have_count(1)
    await ui.fill_order(a, "buy", "yes", 56, 20)
    await expect(a.get_by_test_id("order-cost-value")).to_have_text("$11.20")

    ui.ARTIFACTS.mkdir(exist_ok=True)
    desktop = ui.ARTIFACTS / "market-desktop.png"
    await a.screenshot(path=str(desktop))
    await a.set_viewport_size(ui.PHONE)  # type: ignore[arg-type]
    for testid in ("ladder", "price-chart", "trade-tape", "order-form", "position"):
        await expect(a.get_by_test_id(testid)).to_be_visible()
    # Nothing makes the page wider than the phone (wide tables scroll inside their box).
    width = await a.evaluate("document.documentElement.scrollWidth")
    assert width <= ui.PHONE["width"], width
    phone = ui.ARTIFACTS / "market-phone.png"
    await a.screenshot(path=str(phone), full_page=True)
    for path in (desktop, phone):
        assert path.stat().st_size > 10_000, path
    await a.set_viewport_size(ui.DESKTOP)  # type: ignore[arg-type]


async def test_money_is_conserved_after_everything_the_ui_did(server: ui.LfgServer) -> None:
    """Cash + escrow + fees = deposits; balances match the ledger and the open orders'
    holds; each market's escrow pays its contracts (tests/server/ledger.py)."""
    await assert_money_conserved(server.dsn)
