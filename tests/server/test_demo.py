"""`lfg serve --demo` (what `make run` starts): a page at / and a live book over /ws/v1."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from typing import Any

import httpx
import websockets

from tests.conftest import new_database
from tests.server.conftest import free_port
from tests.server.test_crash_recovery import wait_ready


async def test_demo_serves_a_page_and_a_live_book_with_trades(
    pg_server: object, tmp_path: Any
) -> None:
    dsn = new_database(pg_server)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": dsn, "LFG_LOG_LEVEL": "WARNING"}
    env.pop("LFG_JWT_SECRET", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, proc)
        async with httpx.AsyncClient() as h:
            page = await h.get(url + "/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            markets = (await h.get(url + "/api/v1/markets")).json()["markets"]
        assert {m["ticker"] for m in markets} >= {"RAIN-TOMORROW", "BTC-100K-EOY", "ROVER-LANDS"}
        async with websockets.connect(url.replace("http", "ws") + "/ws/v1") as ws:
            await ws.send(
                json.dumps({"op": "subscribe", "id": 1, "channels": ["book:RAIN-TOMORROW"]})
            )
            seen_levels = seen_trade = False
            loop = asyncio.get_running_loop()
            end = loop.time() + 30
            while loop.time() < end and not (seen_levels and seen_trade):
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if (msg["type"] == "book_snapshot" and msg["bids"] and msg["asks"]) or msg[
                    "type"
                ] == "book_delta":
                    seen_levels = True
                elif msg["type"] == "trade":
                    seen_trade = True
            assert seen_levels, "the demo market maker did not quote"
            assert seen_trade, "no demo trade within 30 s"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert "demo logins" in out
