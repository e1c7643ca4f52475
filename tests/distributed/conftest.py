"""A real cluster per test module: Redis, PostgreSQL, 2 shards (+1 standby each) and 2
gateways as separate processes on 127.0.0.1 (server.cluster.Cluster)."""

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from server.cluster import Cluster
from tests.server.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, WS

_seq = itertools.count(1)


class Client:
    """REST + WS helpers against one gateway."""

    def __init__(self, url: str, admin_token: str) -> None:
        self.url = url
        self.api = url + "/api/v1"
        self.ws_url = url.replace("http", "ws") + "/ws/v1"
        self.http = httpx.AsyncClient(base_url=self.api, timeout=20)
        self.admin_token = admin_token

    def h(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def user(self, credit: int = 1_000_000) -> tuple[int, str]:
        email = f"d{next(_seq)}-{uuid.uuid4().hex[:6]}@test.lfg"
        r = await self.http.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        uid = int(r.json()["user_id"])
        r = await self.http.post("/auth/login", json={"email": email, "password": PASSWORD})
        token = r.json()["access_token"]
        if credit:
            r = await self.http.post(
                f"/admin/users/{uid}/credit",
                json={"amount": credit},
                headers=self.h(self.admin_token),
            )
            assert r.status_code == 200, r.text
        return uid, token

    async def market(self) -> tuple[str, int]:
        ticker = f"D{next(_seq)}-{uuid.uuid4().hex[:5].upper()}"
        r = await self.http.post(
            "/admin/markets",
            json={"ticker": ticker, "title": ticker},
            headers=self.h(self.admin_token),
        )
        assert r.status_code == 201, r.text
        return ticker, r.json().get("shard_id", -1)

    async def ws(self, token: str | None = None) -> WS:
        w = WS(await websockets.connect(self.ws_url, max_size=2**22))
        if token:
            assert (await w.req("auth", token=token))["type"] == "authed"
        return w

    async def aclose(self) -> None:
        await self.http.aclose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: Any) -> Iterator[Cluster]:
    c = Cluster(
        gateways=2,
        shards=2,
        standby=1,
        data_dir=str(tmp_path_factory.mktemp("cluster")),
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        env={"LFG_LOG_LEVEL": "INFO", "LFG_COMMAND_TIMEOUT_MS": "3000"},
    )
    try:
        c.start()
        yield c
    finally:
        c.stop()


async def admin_token(url: str) -> str:
    async with httpx.AsyncClient() as h:
        r = await h.post(
            url + "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token
