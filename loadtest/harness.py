"""What the server benchmark (`loadtest.orders`) and the scenarios (`python -m loadtest`)
share: starting `lfg serve` and the peer `matching-engine` on 127.0.0.1, waiting for
them, a minimal HTTP/1.1 client, reading Prometheus text from `/metrics`, CPU and memory
of local processes from `/proc`, and the open-files limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ADMIN_EMAIL = "bench-admin@lfg.local"
ADMIN_PASSWORD = "Bench-Admin-Pass-1!"
TRADER_PASSWORD = "Bench-Trader-Pass-1!"
JWT_SECRET = "bench-secret-" + "z" * 40

#: Every rate-limit setting of server/config.py: set to "off" for throughput runs.
RATE_LIMIT_SETTINGS = (
    "LFG_RATE_AUTH",
    "LFG_RATE_LOGIN_FAILURES",
    "LFG_RATE_LOGIN_FAILURES_IP",
    "LFG_RATE_REST_READ",
    "LFG_RATE_REST_READ_IP",
    "LFG_RATE_REST_WRITE",
    "LFG_RATE_REST_WRITE_IP",
    "LFG_RATE_WS_ORDERS",
    "LFG_RATE_WS_ORDERS_IP",
    "LFG_RATE_WS_SUBSCRIPTIONS",
    "LFG_RATE_WS_SUBSCRIPTIONS_IP",
)


def limits_off() -> dict[str, str]:
    """Settings that turn every rate limit off (a benchmark from one address would
    otherwise measure the limits)."""
    return dict.fromkeys(RATE_LIMIT_SETTINGS, "off")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def raise_nofile() -> tuple[int, int]:
    """Raise this process's soft limit of open files to its hard limit (children started
    afterwards inherit it); returns the (soft, hard) limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# ---------------------------------------------------------------------------- servers


def start_lfg(
    data_dir: str, port: int, shards: int = 1, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`lfg serve` on 127.0.0.1:`port` with a fresh embedded PostgreSQL under `data_dir`,
    the bench admin, a fixed JWT secret and a high open-order cap; `env` adds or
    overrides settings (e.g. rate limits)."""
    full_env = {
        **os.environ,
        "LFG_ADMIN_EMAIL": ADMIN_EMAIL,
        "LFG_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "LFG_JWT_SECRET": JWT_SECRET,
        "LFG_LOG_LEVEL": "WARNING",
        "LFG_SHARDS": str(shards),
        "LFG_MAX_OPEN_ORDERS": "100000",
        **(env or {}),
    }
    full_env.pop("DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--data-dir", data_dir],
        env=full_env,
        stdout=subprocess.DEVNULL,
    )


def start_peer(data_dir: str, port: int, markets: list[str]) -> subprocess.Popen[bytes]:
    """The PyPI package `matching-engine`'s gateway (`matching-engine serve`) with one
    market per ticker (tick 1, lot 1) and its fsynced write-ahead log under `data_dir`."""
    env = {
        **os.environ,
        "ME_DATA_DIR": data_dir,
        "ME_FSYNC": "1",
        "ME_MARKETS": ",".join(f"{m}:1:1" for m in markets),
    }
    exe = shutil.which("matching-engine", path=os.path.dirname(sys.executable)) or "matching-engine"
    return subprocess.Popen(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_http(url: str, timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


def stop_process(p: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds: only for processes we started."""
    if p.poll() is None:
        p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


# ---------------------------------------------------------------------------- HTTP


class Http:
    """A minimal HTTP/1.1 keep-alive client: one request in flight, no overhead."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.r: asyncio.StreamReader
        self.w: asyncio.StreamWriter

    @classmethod
    def for_url(cls, base: str) -> Http:
        m = re.match(r"http://([^:/]+):(\d+)", base)
        if m is None:
            raise ValueError(f"expected http://host:port, got {base!r}")
        return cls(m.group(1), int(m.group(2)))

    async def connect(self) -> None:
        self.r, self.w = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            self.w.close()

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: str = ""
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.w.write(head.encode() + b"\r\n" + (body or b""))
        status_line = await self.r.readline()
        if not status_line:
            raise ConnectionResetError("the server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        chunked = False
        while True:
            line = await self.r.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            k = k.lower()
            if k == "content-length":
                length = int(v)
            elif k == "transfer-encoding" and "chunked" in v:
                chunked = True
        if chunked:
            data = b""
            while True:
                size = int((await self.r.readline()).strip(), 16)
                if size == 0:
                    await self.r.readline()
                    break
                data += await self.r.readexactly(size)
                await self.r.readline()
            return status, data
        return status, await self.r.readexactly(length)


# ---------------------------------------------------------------------------- /metrics

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+|NaN|[+-]Inf)$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

#: One sample: (metric name, sorted label pairs) -> value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Prometheus text exposition → `{(name, labels): value}`; comments skipped."""
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if m is None:
            continue
        labels = tuple(sorted(_LABEL_RE.findall(m.group(2) or "")))
        with contextlib.suppress(ValueError):
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric_sum(samples: Samples, name: str, **match: str) -> float:
    """The sum of `name` over every label set that has the `match` labels."""
    total = 0.0
    for (n, labels), v in samples.items():
        if n == name and all((k, val) in labels for k, val in match.items()):
            total += v
    return total


def metric_by(samples: Samples, name: str, label: str) -> dict[str, float]:
    """`name` summed per value of one label."""
    out: dict[str, float] = {}
    for (n, labels), v in samples.items():
        if n == name:
            key = dict(labels).get(label, "")
            out[key] = out.get(key, 0.0) + v
    return out


def scrape(bases: list[str], timeout: float = 10) -> Samples:
    """`/metrics` of every base URL, summed sample by sample."""
    out: Samples = {}
    for b in bases:
        for k, v in parse_metrics(httpx.get(b + "/metrics", timeout=timeout).text).items():
            out[k] = out.get(k, 0.0) + v
    return out


def histogram_quantile(buckets: dict[float, float], q: float) -> float | None:
    """The `q` quantile (0..1) of a cumulative Prometheus histogram `{le: count}`, by
    linear interpolation inside the bucket, as PromQL's histogram_quantile does."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_b, prev_c = 0.0, 0.0
    for b in bounds:
        c = buckets[b]
        if c >= rank:
            if b == float("inf"):
                return prev_b
            if c == prev_c:
                return b
            return prev_b + (b - prev_b) * (rank - prev_c) / (c - prev_c)
        prev_b, prev_c = b, c
    return bounds[-1]


def histogram_buckets(samples: Samples, name: str) -> dict[float, float]:
    """`{le: cumulative count}` of histogram `name` (`name_bucket`), summed over labels."""
    out: dict[float, float] = {}
    for (n, labels), v in samples.items():
        if n == name + "_bucket":
            le = dict(labels).get("le", "+Inf")
            bound = float("inf") if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0.0) + v
    return out


# ---------------------------------------------------------------------------- /proc

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return raw[raw.rindex(")") + 2 :].split()


def proc_tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc (Linux); [] elsewhere or when it is gone."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for e in entries:
        if e.isdigit():
            st = _stat(int(e))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(e))
    out, todo = [], [root]
    while todo and len(out) < 10_000:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out if _stat(root) is not None else []


def find_pids(needle: str) -> list[int]:
    """Processes whose command line contains `needle` (e.g. a PostgreSQL data dir)."""
    out = []
    with contextlib.suppress(OSError):
        for e in os.listdir("/proc"):
            if e.isdigit():
                with contextlib.suppress(OSError):
                    cmd = Path(f"/proc/{e}/cmdline").read_bytes().replace(b"\0", b" ")
                    if needle.encode() in cmd:
                        out.append(int(e))
    return out


def proc_usage(pids: list[int]) -> tuple[float, float]:
    """(CPU seconds, resident bytes) summed over `pids` that are alive."""
    cpu = rss = 0.0
    for pid in pids:
        st = _stat(pid)
        if st is not None:
            cpu += (int(st[11]) + int(st[12])) / _TICK
            rss += int(st[21]) * _PAGE
    return cpu, rss


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0, 0.0
    v = [int(x) for x in first]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return (total - idle) / _TICK, total / _TICK
