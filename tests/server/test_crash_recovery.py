"""`kill -9` the server mid-load: nothing it acknowledged may be lost.

The server runs as a subprocess on its own PostgreSQL database. Four traders pipeline
orders and cancels over WebSockets; the server is killed with SIGKILL at a random moment
and restarted on the same database. Every acknowledged order must be there in a state at
least as advanced as the one acknowledged, the rebuilt book must equal the open orders in
the database, and money must be conserved.
"""

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from tests.conftest import new_database
from tests.server.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, free_port
from tests.server.ledger import assert_money_conserved

JWT = "crash-test-secret-" + "y" * 40


def start_server(dsn: str, port: int, data_dir: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "LFG_JWT_SECRET": JWT,
        "LFG_ADMIN_EMAIL": ADMIN_EMAIL,
        "LFG_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "LFG_SHARDS": "2",
        "LFG_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--data-dir", data_dir],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    async with httpx.AsyncClient() as h:
        for _ in range(int(timeout * 20)):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await h.get(url + "/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise TimeoutError("server not ready")


async def trader(
    ws_url: str,
    token: str,
    markets: list[str],
    rng: random.Random,
    acked: dict[str, dict[str, Any]],
    stop: asyncio.Event,
) -> None:
    """Pipeline places and cancels until the connection dies; record every ack."""
    try:
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"op": "auth", "id": 0, "token": token}))
            assert json.loads(await ws.recv())["type"] == "authed"
            open_ids: list[str] = []
            rid = 0

            async def reader() -> None:
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg["type"] in ("placed", "cancelled"):
                        o = msg["order"]
                        acked[o["order_id"]] = o
                        if msg["type"] == "placed" and o["status"] in ("open", "partially_filled"):
                            open_ids.append(o["order_id"])

            rtask = asyncio.create_task(reader())
            while not stop.is_set() and not rtask.done():
                for _ in range(20):
                    rid += 1
                    if open_ids and rng.random() < 0.3:
                        oid = open_ids.pop(rng.randrange(len(open_ids)))
                        msg: dict[str, Any] = {"op": "cancel", "id": rid, "order_id": oid}
                    else:
                        mid = 50
                        buy_yes = rng.random() < 0.5
                        price = (
                            mid - rng.randint(-2, 6)
                            if buy_yes
                            else (100 - mid) - rng.randint(-2, 6)
                        )
                        msg = {
                            "op": "place",
                            "id": rid,
                            "market": rng.choice(markets),
                            "side": "buy",
                            "outcome": "yes" if buy_yes else "no",
                            "price": max(1, min(99, price)),
                            "qty": rng.randint(1, 10),
                        }
                    await ws.send(json.dumps(msg))
                await asyncio.sleep(0.01)
            rtask.cancel()
    except (websockets.ConnectionClosed, OSError):
        return


@pytest.mark.parametrize("kill_after", [0.8, 1.6, 2.4])
async def test_kill_9_mid_load_loses_nothing_acknowledged(
    pg_server: object, tmp_path: Any, kill_after: float
) -> None:
    dsn = new_database(pg_server)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(dsn, port, str(tmp_path))
    try:
        await wait_ready(url, proc)
        api = url + "/api/v1"
        async with httpx.AsyncClient(base_url=api, timeout=10) as h:
            admin = (
                await h.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            ).json()["access_token"]
            ah = {"Authorization": f"Bearer {admin}"}
            markets = []
            for i in range(3):
                t = f"CRASH{i}"
                assert (
                    await h.post("/admin/markets", json={"ticker": t, "title": t}, headers=ah)
                ).status_code == 201
                markets.append(t)
            tokens = []
            for i in range(4):
                email = f"crash{i}@test.lfg"
                uid = (
                    await h.post("/auth/register", json={"email": email, "password": PASSWORD})
                ).json()["user_id"]
                await h.post(f"/admin/users/{uid}/credit", json={"amount": 10_000_000}, headers=ah)
                tokens.append(
                    (
                        await h.post("/auth/login", json={"email": email, "password": PASSWORD})
                    ).json()["access_token"]
                )

        acked: dict[str, dict[str, Any]] = {}
        stop = asyncio.Event()
        ws_url = url.replace("http", "ws") + "/ws/v1"
        rng = random.Random(int(kill_after * 10))
        tasks = [
            asyncio.create_task(
                trader(ws_url, t, markets, random.Random(rng.random()), acked, stop)
            )
            for t in tokens
        ]
        await asyncio.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        await asyncio.gather(*tasks)
        assert len(acked) > 20, "the load did not get going before the kill"

        proc = start_server(dsn, port, str(tmp_path))
        await wait_ready(url, proc)

        conn = await asyncpg.connect(dsn)
        try:
            rows = {str(r["order_id"]): r for r in await conn.fetch("SELECT * FROM orders")}
            terminal = ("filled", "cancelled", "expired")
            for oid, seen in acked.items():
                assert oid in rows, f"acknowledged order {oid} was lost"
                row = rows[oid]
                assert row["filled_qty"] >= seen["filled_qty"], (seen, dict(row))
                if seen["status"] in terminal:
                    assert row["status"] == seen["status"], (seen, dict(row))
                    assert row["filled_qty"] == seen["filled_qty"]
            # The rebuilt books equal the open orders the database holds.
            async with httpx.AsyncClient(base_url=url + "/api/v1") as h:
                for t in markets:
                    book = (await h.get(f"/markets/{t}/book")).json()
                    want: dict[str, dict[int, int]] = {"bid": {}, "ask": {}}
                    for r in await conn.fetch(
                        "SELECT side, outcome, price, remaining_qty FROM orders "
                        "WHERE market = $1 AND status IN ('open', 'partially_filled')",
                        t,
                    ):
                        yes = r["outcome"] == "yes"
                        side = "bid" if (r["side"] == "buy") == yes else "ask"
                        p = r["price"] if yes else 100 - r["price"]
                        want[side][p] = want[side].get(p, 0) + r["remaining_qty"]
                    assert {p: q for p, q in book["bids"]} == want["bid"]
                    assert {p: q for p, q in book["asks"]} == want["ask"]
                    seq = await conn.fetchval("SELECT seq FROM markets WHERE ticker = $1", t)
                    assert book["seq"] == seq
        finally:
            await conn.close()
        await assert_money_conserved(dsn)

        # And it keeps trading after recovery.
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"op": "auth", "id": 1, "token": tokens[0]}))
            assert json.loads(await ws.recv())["type"] == "authed"
            await ws.send(
                json.dumps(
                    {
                        "op": "place",
                        "id": 2,
                        "market": markets[0],
                        "side": "buy",
                        "outcome": "yes",
                        "price": 1,
                        "qty": 1,
                    }
                )
            )
            assert json.loads(await ws.recv())["type"] == "placed"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
