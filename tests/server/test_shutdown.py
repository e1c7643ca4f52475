"""SIGTERM: stop accepting, finish the batch in flight, close — and lose nothing acked."""

import asyncio
import json
import signal
from typing import Any

import asyncpg
import httpx
import websockets

from tests.conftest import new_database
from tests.server.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, free_port
from tests.server.ledger import assert_money_conserved
from tests.server.test_crash_recovery import start_server, wait_ready


async def test_sigterm_under_load_exits_cleanly_and_keeps_every_acknowledged_order(
    pg_server: object, tmp_path: Any
) -> None:
    dsn = new_database(pg_server)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(dsn, port, str(tmp_path))
    try:
        await wait_ready(url, proc)
        async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=10) as h:
            admin = (
                await h.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            ).json()["access_token"]
            ah = {"Authorization": f"Bearer {admin}"}
            assert (
                await h.post("/admin/markets", json={"ticker": "TERM", "title": "t"}, headers=ah)
            ).status_code == 201
            uid = (
                await h.post(
                    "/auth/register", json={"email": "term@test.lfg", "password": PASSWORD}
                )
            ).json()["user_id"]
            await h.post(f"/admin/users/{uid}/credit", json={"amount": 10_000_000}, headers=ah)
            token = (
                await h.post("/auth/login", json={"email": "term@test.lfg", "password": PASSWORD})
            ).json()["access_token"]

        acked: list[str] = []
        errors: list[str] = []
        async with websockets.connect(url.replace("http", "ws") + "/ws/v1") as ws:
            await ws.send(json.dumps({"op": "auth", "id": 0, "token": token}))
            assert json.loads(await ws.recv())["type"] == "authed"
            for i in range(1, 301):
                await ws.send(
                    json.dumps(
                        {
                            "op": "place",
                            "id": i,
                            "market": "TERM",
                            "side": "buy",
                            "outcome": "yes",
                            "price": 1 + i % 40,
                            "qty": 1,
                        }
                    )
                )
            signalled_at = None
            try:
                while True:
                    if len(acked) >= 20 and signalled_at is None:
                        proc.send_signal(signal.SIGTERM)  # mid-stream: most still in flight
                        signalled_at = len(acked)
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    if msg["type"] == "placed":
                        acked.append(msg["order"]["order_id"])
                    elif msg["type"] == "error":
                        errors.append(msg["code"])
            except websockets.ConnectionClosed:
                pass
        # uvicorn shuts down gracefully, then re-raises the signal it captured: -15 is a
        # clean exit by SIGTERM (a hang or a crash would not be).
        assert proc.wait(20) in (0, -signal.SIGTERM)
        assert signalled_at is not None
        # Commands already queued when the signal came were committed and answered.
        assert len(acked) + len(errors) == 300 or len(acked) > signalled_at, (
            len(acked),
            signalled_at,
            len(errors),
        )
        assert set(errors) <= {"unavailable"}, errors
        conn = await asyncpg.connect(dsn)
        try:
            ids = {str(r["order_id"]) for r in await conn.fetch("SELECT order_id FROM orders")}
        finally:
            await conn.close()
        assert set(acked) <= ids
        await assert_money_conserved(dsn)
    finally:
        if proc.poll() is None:
            proc.kill()
