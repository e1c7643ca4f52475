"""The compiled engine is the interpreted one, compiled: the same commands give the same
events and the same state. And `engine.native` runs the compiled build only when it is
complete and newer than its sources.

`make test` runs the whole suite on the compiled engine (what ships) and the engine's tests
once more interpreted (LFG_ENGINE=python); these tests compare the two builds directly, in
two processes fed the very same commands.
"""

import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from differential import Stream
from oracle import Oracle

from engine import bench
from engine.native import MODULES, _compiled_file
from tests.conftest import missing_tool

ROOT = Path(__file__).resolve().parents[2]
BUILT = all(_compiled_file(m) for m in MODULES)

if not BUILT:  # no C compiler here: nothing to compare (in CI: a failure)
    missing_tool("the engine is not compiled here: `make native` (needs a C compiler)")

#: Runs in a child process: applies the (pickled) commands from stdin, writes its build, every event
#: and the state it ends in (msgpack) to stdout.
CHILD = """
import pickle, sys, msgspec
from engine import BUILD, Engine

cmds = pickle.loads(sys.stdin.buffer.read())
e = Engine()
events = [e.apply(c) for c in cmds]
state = {
    "accounts": {u: (a.available, a.held) for u, a in e.accounts.items()},
    "markets": {
        t: (m.status, m.seq, m.escrow, m.fees, m.last_price, m.volume, m.trade_no,
            e.book_snapshot(t), {u: (p.yes, p.no, p.yes_reserved, p.no_reserved)
                                 for u, p in m.positions.items()})
        for t, m in e.markets.items()
    },
    "orders": [o.snapshot() for o in e.orders.values()],
    "credits": (e.credits, e.debits),
}
sys.stdout.buffer.write(msgspec.msgpack.encode([BUILD, events, state]))
"""


def run(cmds: list[Any], *, interpreted: bool, cwd: Path = ROOT) -> tuple[str, bytes]:
    env = {**os.environ, "LFG_ENGINE": "python" if interpreted else ""}
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=pickle.dumps(cmds),  # as built, nonsense included (msgpack would refuse it)
        capture_output=True,
        env=env,
        cwd=cwd,
        check=True,
        timeout=300,
    ).stdout
    build, events, state = msgspec.msgpack.decode(out)
    return build, msgspec.msgpack.encode([events, state])


def oracle_stream(seed: int, n: int) -> list[Any]:
    """A random stream of every kind of command (stops, amends, coids, bad commands...)."""
    stream = Stream(seed, markets=3, users=5, cash=50_000)
    oracle = Oracle(None)
    cmds = stream.setup()
    for c in cmds:
        oracle.apply(c)
    for _ in range(n):
        c = stream.next(oracle)
        oracle.apply(c)
        cmds.append(c)
    return cmds


@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_and_interpreted_engines_agree_on_a_random_stream(seed: int) -> None:
    cmds = oracle_stream(seed, 20_000)
    build_c, compiled = run(cmds, interpreted=False)
    build_i, interpreted = run(cmds, interpreted=True)
    assert (build_c, build_i) == ("compiled", "interpreted (LFG_ENGINE=python)")
    assert compiled == interpreted


def test_compiled_and_interpreted_engines_agree_on_the_benchmark_workload() -> None:
    w = bench.generate(30_000)
    cmds = [*w.setup, *w.ours]
    _, compiled = run(cmds, interpreted=False)
    _, interpreted = run(cmds, interpreted=True)
    assert compiled == interpreted


def test_bad_values_the_interpreted_engine_rejects_are_rejected_compiled_too() -> None:
    """Values a C integer cannot hold, or of the wrong type, are invalid, not a crash."""
    from engine import CreateMarket, CreditCash, PlaceOrder

    base = {"ts": 1, "user": 1, "market": "M", "side": "buy", "outcome": "yes", "price": 50}
    cmds: list[Any] = [
        CreateMarket(ts=1, market="M"),
        CreditCash(ts=1, user=1, amount=10**9),
        PlaceOrder(order_id=1, qty=10**30, **base),
        PlaceOrder(order_id=2, qty=5, **{**base, "price": 10**30}),
        PlaceOrder(order_id=3, qty=5, **{**base, "price": -(10**30)}),
        PlaceOrder(order_id=4, qty=5, **{**base, "side": ["buy"]}),
        PlaceOrder(order_id=5, qty=5, **base),
    ]
    _, compiled = run(cmds, interpreted=False)
    _, interpreted = run(cmds, interpreted=True)
    assert compiled == interpreted
    events = msgspec.msgpack.decode(compiled)[0]
    assert [evs[0]["event"] for evs in events[2:]] == ["CommandRejected"] * 4 + ["OrderUpdated"]
    assert all(evs[0]["reason"] == "invalid_message" for evs in events[2:6])


def _copy_of_engine(tmp_path: Path) -> Path:
    """The engine package, compiled modules included, in a folder of its own."""
    dst = tmp_path / "engine"
    shutil.copytree(ROOT / "engine", dst, copy_function=shutil.copy2)
    return tmp_path


def _which_build(root: Path, **env: str) -> tuple[str, str]:
    code = "import engine, engine.engine as e, engine.book as b; print(engine.BUILD); "
    code += "print(e.__file__.endswith('.py'), b.__file__.endswith('.py'))"
    p = subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root), "LFG_ENGINE": "", **env},
        cwd=root,
        check=True,
        timeout=60,
    )
    return p.stdout, p.stderr


def test_a_complete_build_newer_than_its_sources_runs_compiled(tmp_path: Path) -> None:
    root = _copy_of_engine(tmp_path)
    out, err = _which_build(root)
    assert out.splitlines() == ["compiled", "False False"], err


def test_lfg_engine_python_runs_the_interpreted_engine(tmp_path: Path) -> None:
    root = _copy_of_engine(tmp_path)
    out, _ = _which_build(root, LFG_ENGINE="python")
    assert out.splitlines() == ["interpreted (LFG_ENGINE=python)", "True True"]


def test_a_source_edited_after_the_build_runs_interpreted_with_a_warning(
    tmp_path: Path,
) -> None:
    root = _copy_of_engine(tmp_path)
    later = time.time() + 60
    os.utime(root / "engine" / "book.pxd", (later, later))
    out, err = _which_build(root)
    assert out.splitlines() == [
        "interpreted (engine/book.pxd is newer than its build: make native)",
        "True True",
    ]
    assert "RuntimeWarning: engine/book.pxd changed after the engine was compiled" in err


def test_a_partial_build_runs_entirely_interpreted(tmp_path: Path) -> None:
    root = _copy_of_engine(tmp_path)
    so = _compiled_file("markets")
    assert so is not None
    (root / "engine" / Path(so).name).unlink()
    out, _ = _which_build(root)
    assert out.splitlines() == ["interpreted (not compiled: make native)", "True True"]


def test_an_unknown_lfg_engine_value_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    root = _copy_of_engine(tmp_path)
    p = subprocess.run(
        [sys.executable, "-c", "import engine"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root), "LFG_ENGINE": "fast"},
        cwd=root,
        timeout=60,
    )
    assert p.returncode != 0
    assert "ValueError: LFG_ENGINE='fast': set it to 'python'" in p.stderr
