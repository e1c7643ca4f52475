"""A real Prometheus scrapes a running `lfg serve`: after a scripted trade, Prometheus's
HTTP API returns the business metrics (orders, trades, volume, users, logins, escrow) with
the values the script caused, and the HTTP metrics labelled by route template.

Prometheus is Debian's `prometheus` package (`apt-get install -y prometheus`; .ci/run
installs it); both processes listen on 127.0.0.1 on free ports and are stopped after."""

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import missing_tool, new_database
from tests.server.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
MARKET = "PROM-1"


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def lfg_serve(pg_server: object, tmp_path: Path) -> Iterator[str]:
    """`lfg serve` as a subprocess on a fresh database; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": new_database(pg_server),
        "LFG_JWT_SECRET": "prometheus-test-" + "p" * 40,
        "LFG_ADMIN_EMAIL": ADMIN_EMAIL,
        "LFG_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "LFG_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "lfg.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/ready", proc)
        yield url
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def prometheus(lfg_serve: str, tmp_path: Path) -> Iterator[str]:
    """A Prometheus scraping `lfg_serve` every second; yields its base URL."""
    if PROMETHEUS is None:
        missing_tool("prometheus is not installed (apt-get install -y prometheus)")
    port = free_port()
    target = lfg_serve.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: lfg\n    scrape_interval: 1s\n    scrape_timeout: 1s\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/-/ready", proc)
        yield url
    finally:
        _stop(proc)


async def _script(base: str) -> None:
    """Two traders register (one login fails first), and trade 5 contracts at 40."""
    async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=20) as h:

        async def post(path: str, body: dict[str, Any], token: str = "") -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return await h.post(path, json=body, headers=headers)

        admin = await post("/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        admin_token = admin.json()["access_token"]
        r = await post("/admin/markets", {"ticker": MARKET, "title": "Scraped?"}, admin_token)
        assert r.status_code == 201, r.text
        tokens = []
        for name in ("yes", "no"):
            email = f"prom-{name}@test.lfg"
            r = await post("/auth/register", {"email": email, "password": PASSWORD})
            assert r.status_code == 201, r.text
            uid = r.json()["user_id"]
            if name == "yes":
                bad = await post("/auth/login", {"email": email, "password": "Wrong-1234!x"})
                assert bad.status_code == 401
            r = await post("/auth/login", {"email": email, "password": PASSWORD})
            tokens.append(r.json()["access_token"])
            r = await post(f"/admin/users/{uid}/credit", {"amount": 10_000}, admin_token)
            assert r.status_code == 200, r.text
        order = {"market": MARKET, "side": "buy", "type": "limit", "qty": 5}
        r = await post("/orders", {**order, "outcome": "no", "price": 60}, tokens[1])
        assert r.status_code == 201, r.text
        r = await post("/orders", {**order, "outcome": "yes", "price": 40}, tokens[0])
        assert r.status_code == 201 and r.json()["order"]["status"] == "filled", r.text


EXPECTED = {
    'up{job="lfg"}': 1,
    "lfg_trades_total": 1,
    "lfg_traded_contracts_total": 5,
    "lfg_traded_notional_cents_total": 200,  # YES price 40 x 5
    'sum(lfg_orders_total{result="accepted"})': 2,
    "lfg_users_registered_total": 2,
    'lfg_logins_total{result="ok"}': 3,  # the admin and both traders
    'lfg_logins_total{result="failed"}': 1,
    f'lfg_escrow_cents{{market="{MARKET}"}}': 500,  # 5 YES/NO pairs minted
    'sum(lfg_open_orders{job="lfg"})': 0,
    'sum(lfg_http_requests_total{route="/api/v1/orders",method="POST",status="201"})': 2,
    'lfg_http_requests_total{route="/api/v1/auth/login",status="401"}': 1,
    "lfg_ready": 1,
}


async def test_prometheus_scrapes_the_business_metrics_after_a_trade(
    lfg_serve: str, prometheus: str
) -> None:
    await _script(lfg_serve)
    found: dict[str, float | None] = {}
    async with httpx.AsyncClient(base_url=prometheus, timeout=5) as h:
        for _ in range(150):
            for query in EXPECTED:
                r = (await h.get("/api/v1/query", params={"query": query})).json()
                assert r["status"] == "success", r
                result = r["data"]["result"]
                found[query] = float(result[0]["value"][1]) if result else None
            if found == {q: float(v) for q, v in EXPECTED.items()}:
                break
            await asyncio.sleep(0.2)
        assert found == {q: float(v) for q, v in EXPECTED.items()}
        # Process and GC metrics come with the default registry, and no raw paths appear.
        for query in ("process_resident_memory_bytes", "python_gc_collections_total"):
            r = (await h.get("/api/v1/query", params={"query": query})).json()
            assert r["data"]["result"], query
        r = (await h.get("/api/v1/label/route/values")).json()
        assert "/api/v1/admin/users/{user_id}/credit" in r["data"]
        assert not [v for v in r["data"] if MARKET in v or v[-1:].isdigit()], r["data"]
