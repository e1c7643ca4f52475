"""CI smoke of the load tester: the ramp scenario at its smoke size (200 users of every
kind, a few seconds) against a fresh `lfg serve`, end to end through the command line.
It asserts that the run completed and that every threshold was evaluated, not the
figures (CI machines vary too much for those; docs/PERFORMANCE.md has the real runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.results import SEED, format_threshold


@pytest.mark.timeout(120)
def test_ramp_smoke_runs_to_completion_and_evaluates_every_threshold(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest", "run", "ramp", "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["scenario"] == "ramp" and last["size"] == "smoke"
    for key in ("orders_per_s", "ack_p99_ms", "error_rate", "users_peak", "passed", "report"):
        assert key in last
    assert last["users_peak"] == 200

    (result_file,) = tmp_path.glob("*-ramp.json")
    result = json.loads(result_file.read_text())
    f = result["figures"]
    assert f["acked_orders"] > 0, "no order was acknowledged"
    assert f["ack"]["count"] > 0 and f["conns_client_peak"] > 0
    lines = result["thresholds"]
    assert len([t for t in lines if t["source"] == "seed"]) == len(SEED)
    assert all(t["status"] in ("pass", "fail", "n/a") for t in lines)
    assert sum(t["status"] != "n/a" for t in lines) >= 3
    for t in lines:
        assert format_threshold(t) in proc.stdout  # a PASS/FAIL/n/a line per threshold

    html = Path(last["report"]).read_text()
    assert html.count("data:image/png;base64,") == 4
