"""Throughput through the worker emulator: invocations per second and latency, per configuration.

Every cell of the matrix runs the same calls through `Worker.invoke_many` with a fixed number in flight:

- sync-pool: sync functions on a pool of 1, 4 or 16 threads, as many in flight as threads;
- async: async functions on the event loop, 1, 64 or 512 in flight;
- processes: sync functions in 1 or 2 worker processes (4 threads each), 4 in flight per process. Both run
  out of this process, as the host talks to its worker processes, so the comparison is like for like;

for three workloads: cpu-trivial (return at once), io-5ms (sleep 5 ms) and cpu-1ms (1 ms of pure-Python work,
calibrated once so every configuration does the same work). Latency is `timings.total_s`, from hand-off to result.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

from .configs import CONFIG_SETTING, CPU_LOOPS_SETTING, THROUGHPUT_CONFIGS, calibrate_cpu_loops, config

__all__ = ["MODES", "WORKLOADS", "Cell", "cells", "measure_throughput", "write_bench_app"]

BENCH_APP = Path(__file__).resolve().parent / "benchapp"
WORKLOADS = {"cpu-trivial": "trivial", "io-5ms": "io", "cpu-1ms": "cpu"}
MODES = {"sync-pool": (1, 4, 16), "async": (1, 64, 512), "processes": (1, 2)}
PROCESS_THREADS = 4
BASELINE = "none"


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: how the worker runs, how many calls are in flight, and which function."""

    mode: str
    concurrency: int
    workload: str

    @property
    def threads(self) -> int:
        return self.concurrency if self.mode == "sync-pool" else PROCESS_THREADS

    @property
    def processes(self) -> int:
        return self.concurrency if self.mode == "processes" else 1

    @property
    def in_flight(self) -> int:
        return self.concurrency * PROCESS_THREADS if self.mode == "processes" else self.concurrency

    @property
    def function(self) -> str:
        return f"{WORKLOADS[self.workload]}_{'async' if self.mode == 'async' else 'sync'}"

    @property
    def worker_key(self) -> tuple[int, int, bool]:
        """Cells with the same key run on the same Worker (threads, processes, out of process)."""
        return (self.threads, self.processes, self.mode == "processes")

    def invocations(self, seconds: float) -> int:
        """How many calls fill about `seconds` (a rough, configuration-independent estimate; the same for all)."""
        if self.workload == "io-5ms":
            rate = min(self.in_flight / 0.005, 3000.0)
        elif self.workload == "cpu-1ms":
            rate = 700.0 * self.processes
        else:
            rate = 2500.0 * self.processes
        return max(2 * self.in_flight, 20, round(seconds * rate))


def cells(modes: Sequence[str] = tuple(MODES), workloads: Sequence[str] = tuple(WORKLOADS)) -> list[Cell]:
    """The matrix, grouped so that cells sharing a Worker are next to each other."""
    unknown = sorted(set(modes) - set(MODES)) + sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        raise ValueError(
            f"unknown mode(s)/workload(s) {unknown}; modes: {', '.join(MODES)}; workloads: {', '.join(WORKLOADS)}"
        )
    out = [Cell(m, c, w) for m in modes for c in MODES[m] for w in workloads]
    return sorted(out, key=lambda cell: (list(MODES).index(cell.mode), cell.worker_key, cell.concurrency))


def write_bench_app(directory: str | Path) -> Path:
    """Write the benchmark function app (v2 `function_app.py` and `host.json`) into `directory`."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("function_app.py", "host.json"):
        shutil.copyfile(BENCH_APP / name, target / name)
    return target


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


# -- in a child process (one configuration) ------------------------------------------------------------------------


class ChildHandler:
    """The throughput side of a benchmark child: one configuration, a Worker per (threads, processes)."""

    def __init__(self, config_name: str, app_dir: str, cpu_loops: str) -> None:
        config(config_name)
        self.config_name = config_name
        self.app_dir = app_dir
        self.env = {CONFIG_SETTING: config_name, CPU_LOOPS_SETTING: cpu_loops}
        self._worker: Any = None
        self._key: tuple[int, int, bool] | None = None

    def _worker_for(self, cell: Cell) -> Any:
        if self._key == cell.worker_key:
            return self._worker
        from ..emulator import Worker

        self._close_worker()
        threads, processes, remote = cell.worker_key
        hooks = config(self.config_name).hooks
        if remote and processes == 1:
            # A single worker process is still a separate process from the host: run it as one too.
            worker: Any = _RemoteWorker(self.app_dir, threads, hooks, self.env)
        else:
            worker = Worker(
                self.app_dir, thread_count=threads, process_count=processes, extensions_enabled=hooks, env=self.env
            )
        self._worker, self._key = worker, cell.worker_key
        return worker

    def _close_worker(self) -> None:
        if self._worker is not None:
            self._worker.close()
        self._worker = self._key = None

    def handle(self, request: dict[str, Any]) -> dict[str, float]:
        from ..emulator import Call

        cell = Cell(request["mode"], int(request["concurrency"]), request["workload"])
        worker = self._worker_for(cell)
        n = int(request["n"])
        payload = {"method": "GET", "url": "http://localhost:7071/api/bench?name=bench"}
        warm = [Call(cell.function, payload) for _ in range(min(n, max(10, cell.in_flight)))]
        _check(worker.invoke_many(warm, concurrency=cell.in_flight))
        calls = [Call(cell.function, payload) for _ in range(n)]
        cpu_started, started = process_time(), perf_counter()
        results = worker.invoke_many(calls, concurrency=cell.in_flight)
        elapsed, cpu = perf_counter() - started, process_time() - cpu_started
        _check(results)
        latencies = sorted(r.timings.total_s for r in results)
        measured = {
            "invocations_per_s": n / elapsed,
            "p50_ms": _percentile(latencies, 0.50) * 1e3,
            "p99_ms": _percentile(latencies, 0.99) * 1e3,
        }
        if cell.mode != "processes":
            # The worker runs in this process: its CPU time (every thread) is what an invocation costs in place,
            # hand-offs between threads included, where the overhead harness times the hook path in a warm loop.
            measured["cpu_us_per_invocation"] = cpu / n * 1e6
        return measured

    def close(self) -> None:
        self._close_worker()


def _check(results: Sequence[Any]) -> None:
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(results)} invocations failed, e.g. {failed[0].exception!r}")


class _RemoteWorker:
    """One worker process out of this process: the emulator's process pool with a single process, behind the
    part of the Worker interface the benchmark uses."""

    def __init__(self, app_dir: str, threads: int, hooks: bool, env: dict[str, str]) -> None:
        from ..emulator.multiprocess import ProcessPoolRuntime

        options = {"thread_count": threads, "extensions_enabled": hooks, "hooks": "classic", "env": env}
        self._runtime = ProcessPoolRuntime(app_dir, options, 1)

    def invoke_many(self, calls: Sequence[Any], concurrency: int) -> list[Any]:
        import concurrent.futures

        results: list[Any] = [None] * len(calls)
        in_flight: dict[concurrent.futures.Future[Any], int] = {}
        next_index = 0
        while next_index < len(calls) or in_flight:
            while next_index < len(calls) and len(in_flight) < concurrency:
                in_flight[self._runtime.submit(calls[next_index], perf_counter())] = next_index
                next_index += 1
            done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                results[in_flight.pop(future)] = future.result()
        return results

    def close(self) -> None:
        self._runtime.close()


# -- orchestration -------------------------------------------------------------------------------------------------


def measure_throughput(
    configs: Sequence[str] = THROUGHPUT_CONFIGS,
    matrix: Sequence[Cell] | None = None,
    *,
    rounds: int = 1,
    seconds_per_cell: float = 1.0,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Invocations per second and p50/p99 latency for every configuration and cell (medians over `rounds`),
    with the ratio of invocations per second to the "none" configuration's in the same cell.

    Each configuration runs in its own child process; within a round every cell is measured for all
    configurations one right after the other, so they see the same machine load.
    """
    from .child import Child, start_all

    for name in configs:
        config(name)
    matrix = list(matrix) if matrix is not None else cells()
    workdir = Path(tempfile.mkdtemp(prefix="funcscope-bench-"))
    app_dir = write_bench_app(workdir / "app")
    loops = str(calibrate_cpu_loops())
    children = {name: Child("throughput", name, [str(app_dir), loops]) for name in configs}
    samples: dict[tuple[str, Cell], list[dict[str, float]]] = {(n, c): [] for n in configs for c in matrix}
    try:
        start_all(children.values())
        order = list(configs)
        for r in range(rounds):
            rotated = order[r % len(order) :] + order[: r % len(order)]
            for cell in matrix:
                n = cell.invocations(seconds_per_cell)
                for name in rotated:
                    request = {"mode": cell.mode, "concurrency": cell.concurrency, "workload": cell.workload, "n": n}
                    samples[(name, cell)].append(children[name].request(request))
                    if progress is not None:
                        progress(f"throughput {cell.mode}/{cell.concurrency} {cell.workload} {name}")
    finally:
        for child in children.values():
            child.close()
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for cell in matrix:

        def med(name: str, key: str, cell: Cell = cell) -> float:
            return statistics.median(s[key] for s in samples[(name, cell)])

        base = med(BASELINE, "invocations_per_s") if BASELINE in configs else None
        for name in configs:
            ips = med(name, "invocations_per_s")
            rows.append(
                {
                    "config": name,
                    "mode": cell.mode,
                    "concurrency": cell.concurrency,
                    "workload": cell.workload,
                    "invocations_per_s": round(ips, 1),
                    "p50_ms": round(med(name, "p50_ms"), 3),
                    "p99_ms": round(med(name, "p99_ms"), 3),
                    "ratio_to_none": round(ips / base, 3) if base else None,
                }
            )
    return rows


def throughput_steps(configs: Sequence[str], matrix: Sequence[Cell], rounds: int) -> int:
    """How many progress steps `measure_throughput` reports."""
    return len(configs) * len(matrix) * rounds
