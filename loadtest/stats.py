"""Measurements of one load run: latency histograms and counters, per second.

Every client process keeps one `Recorder`; the runner merges them. Latencies go into
log-bucketed histograms (buckets 1% apart, from 1 µs), kept per whole second since the
run's start `t0` (wall clock, shared by every process on the machine), so that
percentiles can be taken over the whole run, over any window (the spike, the steady
part), and second by second for the plots, with at most 1% error and bounded memory
however many samples there are. Counters and gauges are kept per second the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

_RATIO = 1.01
_LOG_RATIO = math.log(_RATIO)
_FLOOR_MS = 0.001


def bucket(ms: float) -> int:
    """The bucket of a latency in milliseconds: 0 for <= 1 µs, then one per 1%."""
    if ms <= _FLOOR_MS:
        return 0
    return 1 + int(math.log(ms / _FLOOR_MS) / _LOG_RATIO)


def bucket_value(b: int) -> float:
    """A representative value (the geometric middle) of bucket `b`, in ms."""
    if b <= 0:
        return _FLOOR_MS
    return _FLOOR_MS * _RATIO ** (b - 0.5)


class Hist:
    """A log-bucketed histogram of latencies in milliseconds."""

    __slots__ = ("counts", "n", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.total = 0.0

    def add(self, ms: float) -> None:
        b = bucket(ms)
        self.counts[b] = self.counts.get(b, 0) + 1
        self.n += 1
        self.total += ms

    def merge(self, other: Hist) -> None:
        for b, c in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + c
        self.n += other.n
        self.total += other.total

    def quantile(self, q: float) -> float | None:
        """The `q` quantile (0..1): the value of the bucket holding the rank ceil(q*n)."""
        if self.n == 0:
            return None
        rank = max(1, math.ceil(q * self.n))
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return bucket_value(b)
        return bucket_value(max(self.counts))

    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def summary(self) -> dict[str, Any]:
        """count, mean and p50/p95/p99/p99.9/max in ms (rounded), None when empty."""

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3 if v < 1 else 2)

        return {
            "count": self.n,
            "mean_ms": r(self.mean()),
            "p50_ms": r(self.quantile(0.50)),
            "p95_ms": r(self.quantile(0.95)),
            "p99_ms": r(self.quantile(0.99)),
            "p999_ms": r(self.quantile(0.999)),
            "max_ms": r(bucket_value(max(self.counts)) if self.counts else None),
        }

    def to_json(self) -> list[Any]:
        return [self.n, self.total, sorted(self.counts.items())]

    @classmethod
    def from_json(cls, data: list[Any]) -> Hist:
        h = cls()
        h.n, h.total = int(data[0]), float(data[1])
        h.counts = {int(b): int(c) for b, c in data[2]}
        return h


class Recorder:
    """One process's measurements, per whole second since `t0` (epoch seconds).

    - `latency(name, ms)`: a sample into histogram `name` of the current second;
    - `count(name, n)`: add to counter `name` of the current second;
    - `gauge(name, value)`: set gauge `name` for the current second (the runner sums
      gauges of the same second over processes: e.g. connections held).
    """

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.lat: dict[str, dict[int, Hist]] = {}
        self.cnt: dict[str, dict[int, int]] = {}
        self.gauges: dict[str, dict[int, float]] = {}

    def second(self, now: float | None = None) -> int:
        return int((time.time() if now is None else now) - self.t0)

    def latency(self, name: str, ms: float, now: float | None = None) -> None:
        per = self.lat.get(name)
        if per is None:
            per = self.lat[name] = {}
        sec = self.second(now)
        h = per.get(sec)
        if h is None:
            h = per[sec] = Hist()
        h.add(ms)

    def count(self, name: str, n: int = 1, now: float | None = None) -> None:
        per = self.cnt.get(name)
        if per is None:
            per = self.cnt[name] = {}
        sec = self.second(now)
        per[sec] = per.get(sec, 0) + n

    def gauge(self, name: str, value: float, now: float | None = None) -> None:
        self.gauges.setdefault(name, {})[self.second(now)] = value

    def fill_gauges(self) -> None:
        """Carry each gauge forward over seconds this process did not sample (its event
        loop was too busy), so that sums over processes do not dip."""
        for per in self.gauges.values():
            if per:
                last = None
                for sec in range(min(per), max(per) + 1):
                    if sec in per:
                        last = per[sec]
                    elif last is not None:
                        per[sec] = last

    # ---- merging and reading

    def merge(self, other: Recorder) -> None:
        """Add `other` (same `t0`) into this one; gauges of the same second are summed."""
        for name, per in other.lat.items():
            mine = self.lat.setdefault(name, {})
            for sec, h in per.items():
                if sec in mine:
                    mine[sec].merge(h)
                else:
                    copy = Hist()
                    copy.merge(h)
                    mine[sec] = copy
        for name, cper in other.cnt.items():
            cmine = self.cnt.setdefault(name, {})
            for sec, n in cper.items():
                cmine[sec] = cmine.get(sec, 0) + n
        for name, gper in other.gauges.items():
            gmine = self.gauges.setdefault(name, {})
            for sec, v in gper.items():
                gmine[sec] = gmine.get(sec, 0.0) + v

    def hist(self, name: str, start: float | None = None, end: float | None = None) -> Hist:
        """Histogram `name` merged over seconds in [start, end) (None: unbounded)."""
        out = Hist()
        for sec, h in self.lat.get(name, {}).items():
            if (start is None or sec >= start) and (end is None or sec < end):
                out.merge(h)
        return out

    def hist_of(
        self, names: Iterable[str], start: float | None = None, end: float | None = None
    ) -> Hist:
        out = Hist()
        for n in names:
            out.merge(self.hist(n, start, end))
        return out

    def total(self, name: str, start: float | None = None, end: float | None = None) -> int:
        return sum(
            n
            for sec, n in self.cnt.get(name, {}).items()
            if (start is None or sec >= start) and (end is None or sec < end)
        )

    def totals(
        self, prefix: str, start: float | None = None, end: float | None = None
    ) -> dict[str, int]:
        """Every counter whose name starts with `prefix`, by the rest of its name."""
        return {
            name[len(prefix) :]: t
            for name in sorted(self.cnt)
            if name.startswith(prefix) and (t := self.total(name, start, end))
        }

    def series(self, name: str, seconds: int) -> list[int]:
        per = self.cnt.get(name, {})
        return [per.get(s, 0) for s in range(seconds)]

    def to_json(self) -> dict[str, Any]:
        return {
            "t0": self.t0,
            "lat": {
                n: {str(s): h.to_json() for s, h in per.items()} for n, per in self.lat.items()
            },
            "cnt": {n: {str(s): v for s, v in per.items()} for n, per in self.cnt.items()},
            "gauges": {n: {str(s): v for s, v in per.items()} for n, per in self.gauges.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recorder:
        r = cls(float(data["t0"]))
        r.lat = {
            n: {int(s): Hist.from_json(h) for s, h in per.items()} for n, per in data["lat"].items()
        }
        r.cnt = {n: {int(s): int(v) for s, v in per.items()} for n, per in data["cnt"].items()}
        r.gauges = {
            n: {int(s): float(v) for s, v in per.items()} for n, per in data["gauges"].items()
        }
        return r
