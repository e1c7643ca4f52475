"""Runs a scenario: starts the target (a fresh `lfg serve`, or the peer) unless given one,
sets up markets and funded accounts, starts the client processes at one common time,
reads the server's `/metrics` and `/proc` once a second meanwhile, and collects and
analyses the measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from loadtest.actors import CLOSE_GRACE_S, Actor, WorkerSpec, spec_json, worker_main
from loadtest.client import LfgClient, LfgError
from loadtest.harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    TRADER_PASSWORD,
    find_pids,
    free_port,
    histogram_buckets,
    limits_off,
    machine_cpu,
    metric_by,
    metric_sum,
    parse_metrics,
    proc_tree,
    proc_usage,
    start_lfg,
    start_peer,
    stop_process,
    wait_http,
)
from loadtest.results import analyse, merge_workers, thresholds
from loadtest.scenarios import Scenario, active_users, schedule, split

CREDIT_CENTS = 10**11


@dataclass
class Target:
    """A server under test."""

    kind: str  # lfg | peer
    base: str
    proc: subprocess.Popen[bytes] | None = None
    data_dir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD

    @property
    def started_here(self) -> bool:
        return self.proc is not None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def limit_env(limits: str) -> dict[str, str]:
    """Server settings for the scenario's rate limits: "off" turns every limit off
    (throughput runs); "default" leaves the server's defaults."""
    return limits_off() if limits == "off" else {}


def start_target(kind: str, s: Scenario, tmp: str) -> Target:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    markets = [f"LOAD-{i}" for i in range(s.markets)]
    if kind == "peer":
        data = os.path.join(tmp, f"peer-{port}")
        t = Target("peer", base, start_peer(data, port, markets), data)
        wait_http(base + "/healthz")
        return t
    data = os.path.join(tmp, f"lfg-{port}")
    env = {**limit_env(s.limits), "LFG_ACCESS_TOKEN_TTL_S": "86400"}
    t = Target("lfg", base, start_lfg(data, port, env=env), data, env)
    try:
        wait_http(base + "/ready", timeout=120)
    except TimeoutError:
        t.stop()
        raise
    return t


# ---------------------------------------------------------------------------- set-up


async def _retrying(make: Any, attempts: int = 20) -> Any:
    """Run `make()` (a coroutine factory), waiting out `rate_limited` (set-up only)."""
    for i in range(attempts):
        try:
            return await make()
        except LfgError as exc:
            if exc.code != "rate_limited" or i == attempts - 1:
                raise
            await asyncio.sleep(min(30.0, exc.retry_after or 1.0))
    raise AssertionError("unreachable")


async def setup_lfg(t: Target, s: Scenario, run_id: str, xff: bool) -> list[dict[str, Any]]:
    """Markets LOAD-0.. (created unless they exist) and `s.accounts` funded accounts:
    registered, credited and logged in over REST, four at a time (argon2 on the server
    makes this the slow part of the set-up)."""
    async with LfgClient(t.base, timeout=120) as admin:
        if xff:
            admin.http.headers["X-Forwarded-For"] = "10.0.255.254"
        await _retrying(lambda: admin.login(t.admin_email, t.admin_password))
        for i in range(s.markets):
            try:
                await _retrying(
                    lambda i=i: admin.admin_create_market(f"LOAD-{i}", f"Load test market {i}")
                )
            except LfgError as exc:
                if exc.code != "conflict":
                    raise
        slots = asyncio.Semaphore(4)

        async def one(i: int) -> dict[str, Any]:
            email = f"lt-{run_id}-{i}@load.lfg.local"
            async with slots, LfgClient(t.base, timeout=120) as c:
                if xff:
                    c.http.headers["X-Forwarded-For"] = f"10.0.{i >> 8}.{i & 255}"
                uid = await _retrying(lambda: c.register(email, TRADER_PASSWORD))
                await _retrying(lambda: admin.admin_credit(uid, CREDIT_CENTS))
                tokens = await _retrying(lambda: c.login(email, TRADER_PASSWORD))
                return {"email": email, "token": tokens["access_token"], "user_id": uid}

        return list(await asyncio.gather(*(one(i) for i in range(s.accounts))))


def assign(actors: list[Actor], accounts: list[dict[str, Any]], kind: str) -> None:
    """Give every trader and browser an account (round-robin); peer accounts are ids."""
    n = 0
    for a in actors:
        if a.kind == "dashboard":
            continue
        if kind == "peer":
            a.account = 1 + n
        elif accounts:
            acct = accounts[n % len(accounts)]
            a.email, a.token = acct["email"], acct["token"]
        n += 1


# ---------------------------------------------------------------------------- sampling


class Sampler(threading.Thread):
    """Once a second (in the middle of each second of the run): the target's `/metrics`
    (LFG: CPU, RSS, WebSocket connections, trades, ack histogram, rate-limit refusals)
    and `/proc` (the server process and, when started here, its PostgreSQL; the
    machine's busy CPU). Bounded: stops at `stop()` or after `max_s` seconds."""

    def __init__(self, t: Target, t0: float, max_s: float) -> None:
        super().__init__(daemon=True)
        self.t, self.t0, self.max_s = t, t0, max_s
        self.rows: list[dict[str, Any]] = []
        self._halt = threading.Event()
        self._db_root: int | None = None
        self._prev: dict[str, tuple[float, float]] = {}

    def stop(self) -> None:
        self._halt.set()
        self.join(15)

    def read(self) -> dict[str, Any]:
        row: dict[str, Any] = {}
        if self.t.kind == "lfg":
            try:
                text = httpx.get(self.t.base + "/metrics", timeout=5).text
            except httpx.HTTPError:
                return {"t": time.time() - self.t0, "ok": False}
        # A busy server answers late: its figures are of the moment it answered.
        now = time.time()
        row["t"] = now - self.t0
        if self.t.kind == "lfg":
            m = parse_metrics(text)
            row["cpu_s"] = metric_sum(m, "process_cpu_seconds_total")
            row["rss"] = metric_sum(m, "process_resident_memory_bytes")
            row["ws_conns"] = metric_sum(m, "lfg_ws_connections")
            row["trades"] = metric_sum(m, "lfg_trades_total")
            row["ack_buckets"] = {
                str(k): v for k, v in histogram_buckets(m, "lfg_order_ack_seconds").items()
            }
            row["rate_limited_classes"] = metric_by(m, "lfg_rate_limited_total", "limit_class")
            for key, name in (
                ("batch_sum", "lfg_batch_size_sum"),
                ("batch_count", "lfg_batch_size_count"),
                ("commit_sum", "lfg_commit_seconds_sum"),
                ("commit_count", "lfg_commit_seconds_count"),
                ("apply_sum", "lfg_batch_apply_seconds_sum"),
            ):
                row[key] = metric_sum(m, name)
            row["conflations"] = metric_sum(m, "lfg_ws_conflations_total")
            row["slow_disconnects"] = metric_sum(m, "lfg_ws_slow_consumer_disconnects_total")
        elif self.t.proc is not None:
            row["cpu_s"], row["rss"] = proc_usage(proc_tree(self.t.proc.pid))
        if "cpu_s" in row:
            self._pct(row, "cpu_pct", row["cpu_s"], now)
        if self.t.kind == "lfg" and self.t.data_dir:
            if self._db_root is None:
                pids = find_pids(os.path.join(self.t.data_dir, "pg"))
                postmasters = [p for p in pids if proc_tree(p)]
                self._db_root = min(postmasters) if postmasters else -1
            if self._db_root > 0:
                cpu, _ = proc_usage(proc_tree(self._db_root))
                self._pct(row, "db_cpu_pct", cpu, now)
        busy, total = machine_cpu()
        prev = self._prev.get("machine")
        if prev is not None and total > prev[1]:
            row["machine_pct"] = 100 * (busy - prev[0]) / (total - prev[1]) * (os.cpu_count() or 1)
        self._prev["machine"] = (busy, total)
        return row

    def _pct(self, row: dict[str, Any], key: str, cpu_s: float, now: float) -> None:
        prev = self._prev.get(key)
        if prev is not None and now > prev[1]:
            row[key] = 100 * (cpu_s - prev[0]) / (now - prev[1])
        self._prev[key] = (cpu_s, now)

    def run(self) -> None:
        for _ in range(int(self.max_s) + 1):
            if self._halt.is_set():
                return
            with contextlib.suppress(Exception):
                self.rows.append(self.read())
            # The middle of the next second, as the client processes' samples.
            wait = 1.0 - ((time.time() - self.t0 - 0.5) % 1.0)
            self._halt.wait(wait if wait > 0.1 else wait + 1.0)


# ---------------------------------------------------------------------------- one run


def run_clients(
    t: Target, s: Scenario, transport: str, actors: list[Actor], log: Any
) -> tuple[float, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Start `s.procs` client processes, start them together, sample the server until
    they finish; returns (t0, worker payloads, sampler rows, readings before)."""
    params = s.actor_params()
    parts = split(actors, s.procs)
    ctx = mp.get_context("spawn")
    t0_value = ctx.Value("d", 0.0)
    ready: Any = ctx.Queue()
    out: Any = ctx.Queue()
    procs = []
    for part in parts:
        spec = WorkerSpec(t.kind, transport, t.base, TRADER_PASSWORD, params, part, s.duration)
        p = ctx.Process(
            target=worker_main, args=(spec_json(spec), t0_value, ready, out), daemon=True
        )
        p.start()
        procs.append(p)
    payloads: list[dict[str, Any]] = []
    sampler: Sampler | None = None
    before: dict[str, Any] = {}
    try:
        for _ in procs:
            ready.get(timeout=120)
        pre = Sampler(t, time.time(), 0)
        first = pre.read()
        before = {k: first[k] for k in ("rss", "ws_conns", "rate_limited_classes") if k in first}
        t0 = time.time() + 1.0
        t0_value.value = t0
        sampler = Sampler(t, t0, s.duration + 2 * CLOSE_GRACE_S + 60)
        sampler.start()
        deadline = t0 + s.duration + 2 * CLOSE_GRACE_S + 60
        next_note = t0 + 10
        while len(payloads) < len(procs) and time.time() < deadline:
            with contextlib.suppress(Exception):
                payloads.append(json.loads(out.get(timeout=1.0)))
            if time.time() >= next_note and sampler.rows:
                r = sampler.rows[-1]
                log(
                    f"  t={r['t']:5.0f}s  server cpu {r.get('cpu_pct', 0):5.0f}%  "
                    f"rss {r.get('rss', 0) / 2**20:6.0f} MB  ws {r.get('ws_conns', 0):6.0f}"
                )
                next_note += 10
    finally:
        if sampler is not None:
            sampler.stop()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
    if len(payloads) < len(procs):
        log(f"  warning: {len(procs) - len(payloads)} client process(es) sent no results")
    return t0, payloads, sampler.rows if sampler else [], before


def run_scenario(
    s: Scenario,
    *,
    target_url: str | None,
    transport: str = "ws",
    kind: str = "lfg",
    tmp: str,
    xff: bool = True,
    log: Any = print,
    admin: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One scenario against one target; the analysed result with its thresholds."""
    t: Target
    if target_url and kind == "lfg":
        t = Target("lfg", target_url.rstrip("/"))
        if admin:
            t.admin_email, t.admin_password = admin
    else:
        t_start = time.time()
        t = start_target(kind, s, tmp)
        log(
            f"  started {'lfg serve' if kind == 'lfg' else 'matching-engine serve'} "
            f"in {time.time() - t_start:.0f} s"
        )
    try:
        actors = schedule(s)
        if kind == "peer":
            actors = [a for a in actors if a.kind != "browser"]
        accounts: list[dict[str, Any]] = []
        if kind == "lfg":
            t_setup = time.time()
            run_id = f"{int(time.time())}{os.getpid() % 1000}"
            accounts = asyncio.run(setup_lfg(t, s, run_id, xff))
            log(
                f"  set-up: {s.markets} markets, {len(accounts)} accounts in {time.time() - t_setup:.0f} s"
            )
        assign(actors, accounts, kind)
        if not xff:
            for a in actors:
                a.ip = ""
        counts: dict[str, int] = {}
        for a in actors:
            counts[a.kind] = counts.get(a.kind, 0) + 1
        log(
            f"  running {len(actors):,} users ({', '.join(f'{n:,} {k}s' for k, n in counts.items())}) "
            f"for {s.duration:.0f} s from {min(s.procs, len(actors))} client processes, "
            f"{transport.upper()} against {t.base} ({'limits ' + s.limits if kind == 'lfg' else 'peer'})"
        )
        t0, payloads, rows, before = run_clients(t, s, transport, actors, log)
    finally:
        t.stop()
    rec = merge_workers(t0, payloads)
    users = active_users(actors, int(s.duration) + 2)
    r = analyse(s, kind, transport, rec, rows, payloads, before, users)
    started_here = target_url is None or kind == "peer"
    r["server"] = {
        "kind": kind,
        "started_here": started_here,
        "settings": t.env,
        "client_ips": "one per user (X-Forwarded-For)" if xff else "127.0.0.1",
    }
    if not started_here:
        r["config"]["limits"] = "as configured on the target"
    r["thresholds"] = thresholds(s, r) if kind == "lfg" else []
    r["passed"] = all(x["status"] != "fail" for x in r["thresholds"])
    return r


def compare(s: Scenario, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The sustained scenario against LFG (WebSocket and REST) and the peer (REST)."""

    def fig(r: dict[str, Any]) -> dict[str, Any]:
        f = r["figures"]
        return {
            "orders_per_s": f["orders_per_s"],
            "trades_per_s": f["trades_per_s"],
            "ack_p50_ms": f["ack"]["p50_ms"],
            "ack_p99_ms": f["ack"]["p99_ms"],
            "fill_to_sub_p99_ms": f["fill_to_sub"]["p99_ms"],
            "error_rate": f["error_rate"],
            "server_cpu_pct_mean": f["server_cpu_pct_mean"],
        }

    out = {k: fig(v) for k, v in runs.items()}
    peer = max(1, out["peer"]["orders_per_s"])
    out["ratio_ws_vs_peer"] = round(out["lfg_ws"]["orders_per_s"] / peer, 2)
    out["ratio_rest_vs_peer"] = (
        round(out["lfg_rest"]["orders_per_s"] / peer, 2) if "lfg_rest" in out else None
    )
    return out


def new_tmp() -> str:
    return tempfile.mkdtemp(prefix="lfgload")


def remove_tmp(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
