"""Round trips and throughput through the real classic worker, per configuration, in one run.

Every configuration gets its own host (`RealWorker`) with two worker processes of 16 pool threads each, running the
benchmark app (`funcscope/bench/benchapp`) configured for it. The host sends HTTP invocations over gRPC as the
Functions host does; a round trip is from the request leaving the host to its response arriving there. The cells:

- sequential sync and async: one invocation at a time of a trivial function, on worker process 0;
- concurrent: 16 sync invocations in flight (16 pool threads), or 64 async ones on the loop, each waiting 5 ms on
  I/O, on worker process 0;
- processes: sync functions doing about 1 ms of pure-Python work, 8 in flight, on process 0 alone, then spread
  over both processes.

All hosts stay up for the whole run; each round measures every cell for every configuration one right after the
other, in an order rotated each round, so the machine's noise falls on all configurations alike. Every ratio is
to "none" in the same round and cell, then the median over rounds is taken.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configs import CONFIG_SETTING, CPU_LOOPS_SETTING, calibrate_cpu_loops, config
from .client import Location, RealResult, RealWorker, RealWorkerError

__all__ = ["CELLS", "REALWORKER_CONFIGS", "RealCell", "format_realworker", "measure_realworker", "realworker_targets"]

#: What runs in the real worker; "builtin" is the host context extracted and attached by hand, as a user writes it.
REALWORKER_CONFIGS = (
    "none",
    "builtin",
    "manual",
    "funcscope-full",
    "funcscope-tracing",
    "funcscope-sampled-out",
    "opencensus",
)
BASELINE = "none"
THREADS = 16
PROCESSES = 2


@dataclass(frozen=True)
class RealCell:
    """One measurement: which function, how many in flight, on how many worker processes, how many calls."""

    name: str
    function: str
    in_flight: int
    processes: int
    invocations: int  # per round, at full size

    @property
    def sequential(self) -> bool:
        return self.in_flight == 1


CELLS = (
    RealCell("sequential sync", "trivial_sync", 1, 1, 300),
    RealCell("sequential async", "trivial_async", 1, 1, 300),
    RealCell("16 sync threads, 5 ms I/O", "io_sync", THREADS, 1, 800),
    RealCell("64 async, 5 ms I/O", "io_async", 64, 1, 1200),
    RealCell("1 process, 1 ms CPU", "cpu_sync", 8, 1, 400),
    RealCell("2 processes, 1 ms CPU", "cpu_sync", 8, 2, 800),
)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _calls(cell: RealCell, n: int, sampled: bool) -> list[dict[str, Any]]:
    flag = "01" if sampled else "00"
    worker = 0 if cell.processes == 1 else None  # None: the host spreads them over its processes in turn
    return [
        {
            "function_name": cell.function,
            "payload": {"method": "GET"},
            "trace_parent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-{flag}",
            "worker": worker,
        }
        for _ in range(n)
    ]


def _cpu_s(pids: Sequence[int]) -> float | None:
    """The CPU time (user + system, every thread) the worker processes have used, where /proc tells it."""
    total = 0
    try:
        for pid in pids:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime and stime, in clock ticks
    except (OSError, ValueError, IndexError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def _measure(worker: RealWorker, cell: RealCell, n: int, sampled: bool) -> dict[str, Any]:
    cpu_before = _cpu_s(worker.pids)
    results = worker.invoke_many(_calls(cell, n, sampled), concurrency=cell.in_flight)
    cpu_after = _cpu_s(worker.pids)
    failed = [r for r in results if not r.ok]
    if failed:
        raise RealWorkerError(f"{len(failed)} of {n} invocations of {cell.function} failed: {failed[0].exception}")
    summary = _summary(results)
    if cpu_before is not None and cpu_after is not None:
        summary["worker_cpu_us"] = (cpu_after - cpu_before) / n * 1e6
    return summary


def _summary(results: Sequence[RealResult]) -> dict[str, Any]:
    trips = [r.round_trip_s * 1e6 for r in results]
    wall_s = (max(r.received_ns for r in results) - min(r.sent_ns for r in results)) / 1e9
    return {
        "round_trips_us": trips,
        "invocations_per_s": len(results) / wall_s if wall_s > 0 else 0.0,
        "pids": sorted({r.pid for r in results}),
    }


def _start(name: str, app_dir: Path, loops: int, location: Location | None) -> RealWorker:
    cfg = config(name)
    return RealWorker(
        app_dir,
        processes=PROCESSES,
        thread_count=THREADS,
        extensions_enabled=cfg.hooks,
        env={CONFIG_SETTING: name, CPU_LOOPS_SETTING: str(loops)},
        telemetry="none",  # the benchmark app's own providers: a batch processor to an exporter that drops spans
        location=location,
    )


def measure_realworker(
    configs: Sequence[str] = REALWORKER_CONFIGS,
    cells: Sequence[RealCell] = CELLS,
    *,
    rounds: int = 6,
    scale: float = 1.0,
    location: Location | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per (configuration, cell): p50 and p99 round trip (µs, over every round's calls), invocations
    per second (median over rounds), and the ratios to "none" (medians of each round's ratio); for the
    2-process cell also the median ratio to the same configuration on one process. `scale` shrinks the calls
    per round (a quick run); `location` is where the worker and its venv are (default: `client.locate()`)."""
    for name in configs:
        config(name)
    workdir = Path(tempfile.mkdtemp(prefix="funcscope-realbench-"))
    from ..throughput import write_bench_app

    app_dir = write_bench_app(workdir / "app")
    loops = calibrate_cpu_loops()
    workers: dict[str, RealWorker] = {}
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {(n, c.name): [] for n in configs for c in cells}
    try:
        # The hosts start side by side: each start is mostly waiting for worker processes to import.
        with ThreadPoolExecutor(max_workers=len(configs)) as pool:
            started = {name: pool.submit(_start, name, app_dir, loops, location) for name in configs}
            for name, future in started.items():
                workers[name] = future.result()
        for name in configs:  # warm every path once: imports, first-invocation work, the pools' threads
            for cell in cells:
                _measure(workers[name], cell, max(2 * cell.in_flight, 20), config(name).sampled)
        order = list(configs)
        for r in range(rounds):
            rotated = order[r % len(order) :] + order[: r % len(order)]
            for cell in cells:
                n = max(2 * cell.in_flight, round(cell.invocations * scale))
                for name in rotated:
                    samples[(name, cell.name)].append(_measure(workers[name], cell, n, config(name).sampled))
                    if progress is not None:
                        progress(f"realworker {cell.name} {name}")
    finally:
        for worker in workers.values():
            worker.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return _rows(configs, cells, samples)


def _rows(
    configs: Sequence[str], cells: Sequence[RealCell], samples: dict[tuple[str, str], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    rows = []
    single = {c.function: c.name for c in cells if c.processes == 1 and not c.sequential}
    for cell in cells:
        for name in configs:
            mine = samples[(name, cell.name)]
            pooled = [t for s in mine for t in s["round_trips_us"]]
            row: dict[str, Any] = {
                "config": name,
                "cell": cell.name,
                "function": cell.function,
                "in_flight": cell.in_flight,
                "processes": cell.processes,
                "rounds": len(mine),
                "invocations": len(pooled),
                "p50_us": round(_percentile(pooled, 0.50), 1),
                "p99_us": round(_percentile(pooled, 0.99), 1),
                "invocations_per_s": round(statistics.median(s["invocations_per_s"] for s in mine), 1),
                # The worker processes' CPU time per invocation (clock ticks, so only a long cell resolves it):
                # what the machine's other load disturbs least.
                "worker_cpu_us": _median_of(mine, "worker_cpu_us"),
                "worker_processes": len({pid for s in mine for pid in s["pids"]}),
                "p50_ratio_to_none": None,
                "p99_ratio_to_none": None,
                "throughput_ratio_to_none": None,
            }
            base = samples.get((BASELINE, cell.name))
            if base is not None and name != BASELINE:
                row["p50_ratio_to_none"] = _median_ratio(mine, base, lambda s: _percentile(s["round_trips_us"], 0.5))
                row["throughput_ratio_to_none"] = _median_ratio(mine, base, lambda s: s["invocations_per_s"])
                base_pooled = [t for s in base for t in s["round_trips_us"]]
                base_p99 = _percentile(base_pooled, 0.99)
                row["p99_ratio_to_none"] = round(row["p99_us"] / base_p99, 3) if base_p99 else None
            if cell.processes > 1 and cell.function in single:
                one = samples[(name, single[cell.function])]
                row["ratio_to_one_process"] = _median_ratio(mine, one, lambda s: s["invocations_per_s"])
            rows.append(row)
    return rows


def _median_of(samples: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [s[key] for s in samples if s.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def _median_ratio(
    mine: Sequence[dict[str, Any]], base: Sequence[dict[str, Any]], value: Callable[[dict[str, Any]], float]
) -> float | None:
    ratios = [value(m) / value(b) for m, b in zip(mine, base, strict=False) if value(b)]
    return round(statistics.median(ratios), 3) if ratios else None


# -- report -------------------------------------------------------------------------------------------------------


def format_realworker(rows: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    """The real-worker tables: round trips (sequential cells) and throughput (concurrent cells), per config."""
    if not rows:
        return ""
    configs = list(dict.fromkeys(r["config"] for r in rows))
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    by = {(r["config"], r["cell"]): r for r in rows}

    def trip(row: dict[str, Any]) -> str:
        p50, p99 = row["p50_ratio_to_none"], row["p99_ratio_to_none"]
        ratios = f" ({p50:.2f}× / {p99:.2f}×)" if p50 is not None and p99 is not None else ""
        return f"{row['p50_us']:.0f} / {row['p99_us']:.0f}{ratios}"

    def rate(row: dict[str, Any]) -> str:
        ratio = row["throughput_ratio_to_none"]
        text = f"{row['invocations_per_s']:.0f}/s" + (f" ({ratio:.2f}×)" if ratio is not None else "")
        if row.get("ratio_to_one_process") is not None:
            text += f", {row['ratio_to_one_process']:.2f}× one process"
        return text

    sequential = [c for c in cells if by[(configs[0], c)]["in_flight"] == 1]
    concurrent = [c for c in cells if c not in sequential]
    tables = []
    if sequential:
        tables.append(
            _table(
                "Real worker, sequential round trips: p50 / p99 µs (ratio to none)",
                configs,
                sequential,
                lambda n, c: trip(by[(n, c)]),
                markdown,
            )
        )
    if concurrent:
        tables.append(
            _table(
                "Real worker, concurrent: invocations/s (ratio to none)",
                configs,
                concurrent,
                lambda n, c: rate(by[(n, c)]),
                markdown,
            )
        )
    return "\n\n".join(tables)


def _table(
    title: str, configs: Sequence[str], cells: Sequence[str], text: Callable[[str, str], str], markdown: bool
) -> str:
    if markdown:
        lines = [f"**{title}**", "", "| config | " + " | ".join(cells) + " |", "|---" * (len(cells) + 1) + "|"]
        lines += ["| " + " | ".join([name, *(text(name, c) for c in cells)]) + " |" for name in configs]
        return "\n".join(lines)
    width = max(24, *(len(c) + 2 for c in cells), *(len(text(n, c)) + 2 for n in configs for c in cells))
    lines = [title, f"  {'config':<22}" + "".join(f"{c:>{width}}" for c in cells)]
    lines += [f"  {name:<22}" + "".join(f"{text(name, c):>{width}}" for c in cells) for name in configs]
    return "\n".join(lines)


def realworker_targets(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """The real-worker targets as (target, measured, met), for the rows this run has."""
    by = {(r["config"], r["cell"]): r for r in rows}
    checks: list[tuple[str, str, bool]] = []
    for cell in ("sequential sync", "sequential async"):
        row = by.get(("funcscope-full", cell))
        if row is None or row["p50_ratio_to_none"] is None:
            continue
        p50, p99 = row["p50_ratio_to_none"], row["p99_ratio_to_none"]
        checks.append((f"real worker {cell}: funcscope-full p50 <= 1.10x none", f"{p50:.2f}x", p50 <= 1.10))
        checks.append((f"real worker {cell}: funcscope-full p99 <= 1.3x none", f"{p99:.2f}x", p99 <= 1.3))
    for cell in ("16 sync threads, 5 ms I/O", "64 async, 5 ms I/O"):
        row = by.get(("funcscope-full", cell))
        if row is not None and row["throughput_ratio_to_none"] is not None:
            ratio = row["throughput_ratio_to_none"]
            checks.append((f"real worker {cell}: funcscope-full >= 0.95 of none", f"{ratio:.3f}", ratio >= 0.95))
    row = by.get(("funcscope-full", "2 processes, 1 ms CPU"))
    if row is not None and row.get("ratio_to_one_process") is not None:
        scale = row["ratio_to_one_process"]
        checks.append(("real worker: funcscope-full 2 processes >= 1.7x one", f"{scale:.2f}x", scale >= 1.7))
    return checks
