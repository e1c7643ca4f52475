"""A minimal LFG bot: quotes one bid and one ask around the middle of a market's book.

    python -m loadtest.examples.simple_bot --url http://127.0.0.1:8000 --key lfg_...

Every few seconds it cancels its two quotes and places new ones `spread` cents either
side of the mid: a bid is "buy YES at p", an ask is "buy NO at 100 - p" (one book in YES
terms). Ctrl-C cancels its orders and exits. See docs/BOTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from loadtest.client import LfgClient, LfgError, LfgSocket, Outcome

log = logging.getLogger("simple_bot")
BACK_OFF = {"insufficient_funds", "rate_limited", "market_not_open", "too_many_open_orders"}


async def run(
    url: str, key: str, market: str | None, spread: int = 2, qty: int = 5, interval: float = 3.0
) -> None:
    if market is None:  # REST: pick the first open market
        async with LfgClient(url, token=key) as rest:
            markets = (await rest.markets(status="open"))["markets"]
            if not markets:
                raise SystemExit("no open market")
            market = str(markets[0]["ticker"])

    async with LfgSocket(url) as ws:  # http://host:port is turned into ws://host:port/ws/v1
        user_id = await ws.auth(key)
        ws.on("fill", lambda m: log.info("fill %s", m["fill"]))
        await ws.subscribe([f"book:{market}", "orders", "fills"])
        book = await ws.wait_book(market)  # snapshot received; deltas keep it current
        log.info("user %s trading %s: %s", user_id, market, book)
        await ws.cancel_all(market)  # orders survive disconnects: start clean
        mine: list[str] = []
        n = 0
        try:
            while True:
                for cid in mine:  # cancel last round's quotes (filled ones are gone)
                    try:
                        await ws.cancel(client_order_id=cid)
                    except LfgError as exc:
                        if exc.code not in ("not_found", "conflict"):
                            raise
                mine.clear()
                bid, ask = book.best_bid(), book.best_ask()
                mid = (bid + ask) // 2 if bid is not None and ask is not None else 50
                bid_px = max(1, mid - spread)
                ask_px = min(99, max(bid_px + 1, mid + spread))
                n += 1
                quotes: list[tuple[str, Outcome, int]] = [
                    (f"sb-{n}-b", "yes", bid_px),  # bid: buy YES at bid_px
                    (f"sb-{n}-a", "no", 100 - ask_px),  # ask: buy NO at 100 - ask_px
                ]
                try:
                    for cid, outcome, price in quotes:
                        order = await ws.place(
                            market,
                            "buy",
                            outcome,
                            qty,
                            price=price,
                            post_only=True,
                            client_order_id=cid,
                        )
                        mine.append(cid)
                        log.info("placed %s %s @%d -> %s", cid, outcome, price, order["status"])
                except LfgError as exc:
                    if exc.code == "post_only_would_cross":
                        log.info("quote would cross, skipped")
                    elif exc.code in BACK_OFF:
                        log.warning("%s: backing off", exc)
                        await asyncio.sleep(10)
                    else:
                        raise
                await asyncio.sleep(interval)
        finally:
            if not ws.closed:
                count = await ws.cancel_all(market)
                log.info("cancelled %d orders", count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="API key (lfg_...) or access token")
    parser.add_argument("--market", help="ticker (default: the first open market)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        asyncio.run(run(args.url, args.key, args.market))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
