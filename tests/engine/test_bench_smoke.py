"""The engine benchmark runs end to end on a tiny stream. No timing is asserted."""

import json

import pytest

from engine import bench


def test_bench_prints_headline_json_last_and_engines_agree(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert bench.main(["--commands", "3000", "--runs", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    headline = json.loads(lines[-1])
    assert set(headline) == {"commands_per_s", "p99_us", "ratio_vs_peer", "ratio_vs_bare"}
    assert all(isinstance(v, int | float) and v > 0 for v in headline.values())
    # The stream's cancels name resting orders only if every engine matches it the same way.
    assert any(line.startswith("outcomes agree:") for line in lines), "\n".join(lines)


def test_workload_has_the_documented_mix() -> None:
    w = bench.generate(20_000)
    n = len(w.ours)
    assert n == len(w.peer) == 20_000
    assert 0.55 < w.mix["limit"] / n < 0.65
    assert 0.27 < w.mix["cancel"] / n < 0.33
    assert 0.08 < w.mix["market"] / n < 0.12
    assert 0.28 < w.mix["limit_crossing"] / w.mix["limit"] < 0.38
