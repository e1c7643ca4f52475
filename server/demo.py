"""`lfg serve --demo`: demo markets, demo traders with play money, and a market-maker bot
that trades over the real WebSocket protocol so a newcomer sees a live book at once."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from loguru import logger

from server.config import Settings
from server.db import now_ms
from server.errors import ApiError
from server.services import Services

DEMO_PASSWORD = "Demo-Trader-2026!"
DEMO_USERS = ("alice@demo.lfg", "bob@demo.lfg")
BOT_EMAIL = "market-maker@demo.lfg"
TAKER_EMAIL = "taker-bot@demo.lfg"
DEMO_MARKETS = (
    ("RAIN-TOMORROW", "Will it rain in Lisbon tomorrow?"),
    ("BTC-100K-EOY", "Will BTC close the year above $100k?"),
    ("ROVER-LANDS", "Will the rover land successfully by the end of the month?"),
)
DEMO_CASH = 1_000_000  # $10,000.00 in cents
BOT_CASH = 100_000_000


async def _ensure_user(services: Services, email: str) -> int:
    try:
        uid: int = await services.auth.register(email, DEMO_PASSWORD)
        return uid
    except ApiError as exc:
        if exc.code != "conflict":
            raise
    uid = await services.pool.fetchval("SELECT user_id FROM users WHERE lower(email) = $1", email)
    return uid


async def start_demo(services: Services, settings: Settings) -> Callable[[], Awaitable[None]]:
    """Set up the demo; return a coroutine function that stops its bot."""
    for ticker, title in DEMO_MARKETS:
        if ticker not in services.market_shard:
            await services.create_market(
                ticker,
                title,
                "Resolves YES if the event happens as stated; otherwise NO.",
                now_ms() + 30 * 86_400_000,
                0,
                0,
            )
    emails = (*DEMO_USERS, BOT_EMAIL, TAKER_EMAIL)
    users = [await _ensure_user(services, e) for e in emails]
    for uid, email in zip(users, emails, strict=True):
        bal = await services.pool.fetchval(
            "SELECT available + held FROM balances WHERE user_id = $1", uid
        )
        target = BOT_CASH if email in (BOT_EMAIL, TAKER_EMAIL) else DEMO_CASH
        if bal < target // 2:
            await services.credit(uid, target - bal)
    maker = await services.auth.create_api_key(users[-2], "demo market maker")
    taker = await services.auth.create_api_key(users[-1], "demo taker")
    stop = asyncio.Event()
    url = f"http://{settings.host}:{settings.port}"
    task = asyncio.create_task(_run_bot(url, maker.secret, taker.secret, stop))
    print(
        f"\n  LFG demo is starting at {url}/\n"
        f"  demo logins: {DEMO_USERS[0]} / {DEMO_USERS[1]}  password: {DEMO_PASSWORD}\n"
        + (
            f"  admin: {settings.admin_email}\n"
            if settings.admin_email
            else "  (set LFG_ADMIN_EMAIL and LFG_ADMIN_PASSWORD for an admin login)\n"
        ),
        flush=True,
    )

    async def stop_bot() -> None:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    return stop_bot


async def _run_bot(url: str, key: str, taker_key: str, stop: asyncio.Event) -> None:
    """Two bot users: one quotes a ladder, the other takes now and then, so trades print."""
    from loadtest.client import LfgError
    from loadtest.demo_bot import run_market_maker

    await asyncio.sleep(1.0)  # the server starts accepting after the lifespan start-up
    while not stop.is_set():
        try:
            await run_market_maker(
                url, key, [t for t, _ in DEMO_MARKETS], stop=stop, taker_token=taker_key
            )
        except asyncio.CancelledError:
            raise
        except LfgError as exc:
            if exc.code in ("unauthorized", "forbidden"):
                logger.error("demo market maker refused ({}); not restarting", exc)
                return
            logger.warning("demo market maker stopped ({}); restarting in 2 s", exc)
            await asyncio.sleep(2.0)
        except Exception as exc:
            logger.warning("demo market maker stopped ({}); restarting in 2 s", exc)
            await asyncio.sleep(2.0)
