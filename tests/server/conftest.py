"""A real LFG server for the server tests: in-process uvicorn on a free 127.0.0.1 port,
its own fresh database, real PostgreSQL. Tests create their own users and markets."""

import asyncio
import contextlib
import itertools
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest_asyncio
import uvicorn
import websockets

from server import config
from server.gateway.app import build_app
from tests.conftest import new_database

ADMIN_EMAIL = "admin@test.lfg"
ADMIN_PASSWORD = "Admin-Pass-1234!"
PASSWORD = "Trader-Pass-1234!"
_seq = itertools.count(1)
NO_RATE_LIMITS = {
    f.name: "off" for f in msgspec.structs.fields(config.Settings) if f.name.startswith("rate_")
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class WS:
    """A raw protocol connection: send ops, await replies by id, collect pushes."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.pushed: list[dict[str, Any]] = []
        #: every message received, in arrival order
        self.log: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    async def send(self, msg: Any) -> None:
        await self.conn.send(msg if isinstance(msg, str | bytes) else json.dumps(msg))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(self.conn.recv(), timeout))
        self.log.append(msg)
        return msg

    async def req(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one op and return its reply (error replies too); pushes are kept."""
        rid = next(self._ids)
        await self.send({"op": op, "id": rid, **fields})
        while True:
            msg = await self.recv()
            if msg.get("id") == rid and msg["type"] not in ("order", "fill", "account"):
                return msg
            self.pushed.append(msg)

    async def until(self, pred: Any, timeout: float = 5.0) -> dict[str, Any]:
        """The first pushed message (kept or new) that satisfies `pred`."""
        for i, m in enumerate(self.pushed):
            if pred(m):
                return self.pushed.pop(i)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.01, end - loop.time()))
            if pred(msg):
                return msg
            self.pushed.append(msg)

    async def drain(self, quiet: float = 0.2) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(await self.recv(quiet))
            except TimeoutError:
                break
        self.pushed.extend(out)
        return out

    async def close(self) -> None:
        await self.conn.close()


class Live:
    def __init__(self, url: str, dsn: str) -> None:
        self.url = url
        self.api = url + "/api/v1"
        self.ws_url = url.replace("http", "ws") + "/ws/v1"
        self.dsn = dsn
        self.http = httpx.AsyncClient(base_url=self.api, timeout=10)
        self.admin_token = ""

    def h(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def login(self, email: str, password: str) -> str:
        r = await self.http.post("/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    async def user(self, credit: int = 1_000_000) -> tuple[int, str]:
        email = f"u{next(_seq)}-{uuid.uuid4().hex[:6]}@test.lfg"
        r = await self.http.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        uid = int(r.json()["user_id"])
        token = await self.login(email, PASSWORD)
        if credit:
            r = await self.http.post(
                f"/admin/users/{uid}/credit",
                json={"amount": credit},
                headers=self.h(self.admin_token),
            )
            assert r.status_code == 200, r.text
        return uid, token

    async def market(self, **extra: Any) -> str:
        ticker = f"M{next(_seq)}-{uuid.uuid4().hex[:6].upper()}"
        r = await self.http.post(
            "/admin/markets",
            json={"ticker": ticker, "title": f"Test market {ticker}", **extra},
            headers=self.h(self.admin_token),
        )
        assert r.status_code == 201, r.text
        return ticker

    async def ws(self, token: str | None = None) -> WS:
        conn = await websockets.connect(self.ws_url, max_size=2**22)
        w = WS(conn)
        if token is not None:
            reply = await w.req("auth", token=token)
            assert reply["type"] == "authed", reply
        return w

    async def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.http.request(method, path, headers=self.h(self.admin_token), **kw)


@contextlib.asynccontextmanager
async def serve(pg_server: object, **settings: Any) -> AsyncIterator[Live]:
    """Run a server on a fresh database until the block exits; `settings` override the
    test defaults (e.g. `max_open_orders=5`)."""
    dsn = new_database(pg_server)
    port = free_port()
    overrides: dict[str, Any] = {
        "admin_email": ADMIN_EMAIL,
        "admin_password": ADMIN_PASSWORD,
        "jwt_secret": "test-secret-" + "x" * 40,
        "shards": 2,
        # Tests send far more requests a minute than people do, all from 127.0.0.1;
        # the limits themselves are tested in test_ratelimit.py with their own settings.
        **NO_RATE_LIMITS,
        **settings,
    }
    app = build_app(config.load({}, port=port, **overrides), dsn)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, ws_max_size=64 * 1024, log_config=None, lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    lv = Live(f"http://127.0.0.1:{port}", dsn)
    lv.admin_token = await lv.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    try:
        yield lv
    finally:
        await lv.http.aclose()
        server.should_exit = True
        await task


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(pg_server: object) -> AsyncIterator[Live]:
    async with serve(pg_server) as lv:
        yield lv
