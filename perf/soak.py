"""Soak and fork runs: what a long-running worker process holds after many invocations, and forks under load.

    python perf/soak.py soak --config funcscope-full --mode sync --invocations 100000
    python perf/soak.py forks --forks 500

`soak` runs invocations through the worker's hook path (the emulator's `ExtensionManager`, as `funcscope bench`
does) with a function that does what functions do besides returning: it starts a thread and joins it, submits to
the app's own thread pool, hands work to a long-lived thread of the app's (started lazily by the first invocation)
and logs; async functions also start a task and use `asyncio.to_thread`. At each checkpoint (10k, 50k, 100k by
default) it prints one JSON line: resident memory, Python heap (tracemalloc), threads, spans started and not ended,
invocations in flight, and live `Invocation`, OpenTelemetry `Context` and `contextvars.Context` objects.

`forks` keeps four threads running invocations and forks the process `--forks` times meanwhile (every fifth
through a `multiprocessing` fork context). Each child runs three invocations of its own under a 30 s alarm,
checks it started clean (nothing in flight, no tally of the parent's, a new service.instance.id) and reports;
the parent counts the children that hung, failed or were not clean, and checks its own counts at the end.

Run by perf/test_soak.py, each in a fresh process. Numbers only, no thresholds: see the README for the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import gc
import json
import logging
import os
import queue
import resource
import signal
import sys
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

os.environ.setdefault("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
os.environ.setdefault("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")

from opentelemetry.sdk.trace import SpanProcessor  # noqa: E402

from funcscope.bench.configs import providers  # noqa: E402
from funcscope.bench.overhead import HookHarness  # noqa: E402

log = logging.getLogger("soak.app")


class OpenSpans(SpanProcessor):
    """Spans started and not yet ended, on the benchmark provider."""

    def __init__(self) -> None:
        self.started = self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started += 1

    def on_end(self, span: Any) -> None:
        self.ended += 1


class Consumer:
    """A long-lived thread of the app's own, started lazily inside the first invocation: it runs what every later
    invocation hands it."""

    def __init__(self) -> None:
        self.work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="app-consumer", daemon=True).start()

    def _serve(self) -> None:
        while True:
            job, done = self.work.get()
            job()
            done.set()

    def run(self, job: Any) -> None:
        done = threading.Event()
        self.work.put((job, done))
        done.wait(30)


_consumer: Consumer | None = None
_app_pool = ThreadPoolExecutor(2, thread_name_prefix="app-pool")


def _consumer_of_the_app() -> Consumer:
    global _consumer
    if _consumer is None:
        _consumer = Consumer()
    return _consumer


def _side_work() -> None:
    log.debug("side work")


def body(req: Any, context: Any) -> Any:
    thread = threading.Thread(target=_side_work)
    thread.start()
    thread.join()
    _app_pool.submit(_side_work).result()
    _consumer_of_the_app().run(_side_work)
    log.info("handled")
    return "ok"


async def async_body(req: Any, context: Any) -> Any:
    await asyncio.to_thread(_side_work)
    await asyncio.create_task(asyncio.sleep(0))
    _consumer_of_the_app().run(_side_work)
    log.info("handled")
    return "ok"


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _live(type_names: tuple[str, ...]) -> dict[str, int]:
    gc.collect()
    counts = dict.fromkeys(type_names, 0)
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        if name in counts:
            counts[name] += 1
    return counts


def _checkpoint(done: int, opened: OpenSpans, started: float) -> dict[str, Any]:
    from funcscope.runtime import get_runner

    live = _live(("Invocation", "Context", "_Active"))
    return {
        "invocations": done,
        "rss_mb": round(_rss_mb(), 1),
        "heap_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 1),
        "threads": threading.active_count(),
        "open_spans": opened.started - opened.ended,
        "in_flight": get_runner().in_flight(),
        "live_invocations": live["Invocation"],
        "live_contexts": live["Context"],  # OpenTelemetry's Context and contextvars.Context alike
        "seconds": round(time.perf_counter() - started, 1),
    }


def soak(config: str, mode: str, total: int, checkpoints: list[int]) -> None:
    logging.basicConfig(level=logging.INFO, handlers=[logging.NullHandler()])  # records made and handled, not kept
    opened = OpenSpans()
    providers().tracer_provider.add_span_processor(opened)
    with HookHarness(config) as harness:
        harness._sync_fn, harness._async_fn = body, async_body  # the workload above instead of a trivial body
        tracemalloc.start()
        started = time.perf_counter()
        done = 0
        for checkpoint in checkpoints:
            while done < checkpoint:
                n = min(1000, checkpoint - done)
                harness.run_batch("async" if mode == "async" else "sync-pool", harness.invocations(n))
                done += n
            row = _checkpoint(done, opened, started)
            print(json.dumps({"config": config, "mode": mode, **row}), flush=True)


# -- forks under load ------------------------------------------------------------------------------------------


def _child_checks(harness: HookHarness) -> dict[str, Any]:
    from funcscope.middleware import metrics as metrics_middleware
    from funcscope.runtime import get_runner

    runner = get_runner()
    tallies = list(metrics_middleware._tallies.values())
    clean = {
        "in_flight": runner.in_flight(),
        "tallies": sum(sum(t.active.values()) + sum(t.succeeded.values()) for t in tallies),
    }
    harness._sync_batch(harness.invocations(3))  # the child's own invocations work (on this thread: the pool's died)
    runner.shutdown()  # what a child's exit does: flush (and end what is its own)
    clean["in_flight_after"] = runner.in_flight()
    return clean


def forks(total: int, load_threads: int) -> None:
    import multiprocessing

    from funcscope.middleware import metrics as metrics_middleware
    from funcscope.runtime import get_runner

    with HookHarness("funcscope-full") as harness:
        stop = threading.Event()
        ran = [0] * load_threads

        def load(i: int) -> None:
            while not stop.is_set():
                harness._sync_batch(harness.invocations(20))  # on this thread: four "pool threads" at once
                ran[i] += 20

        threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(load_threads)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        outcome = {"forks": 0, "hung": 0, "failed": 0, "not_clean": 0, "multiprocessing": 0}
        mp = multiprocessing.get_context("fork")
        started = time.perf_counter()
        for n in range(total):
            read_end, write_end = os.pipe()
            use_mp = n % 5 == 4
            if use_mp:
                outcome["multiprocessing"] += 1
                process = mp.Process(target=_mp_child, args=(harness, write_end))
                process.start()
                pid = process.pid
            else:
                pid = os.fork()
                if pid == 0:
                    _fork_child(harness, read_end, write_end)
            os.close(write_end)
            report = _wait_for_child(pid, read_end)
            outcome["forks"] += 1
            if report is None:
                outcome["hung"] += 1
            elif "error" in report:
                outcome["failed"] += 1
            elif report["in_flight"] or report["tallies"] or report["in_flight_after"]:
                outcome["not_clean"] += 1
            if use_mp:
                process.join(5)
        stop.set()
        for thread in threads:
            thread.join(30)
        tallies = list(metrics_middleware._tallies.values())
        outcome.update(
            seconds=round(time.perf_counter() - started, 1),
            parent_invocations=sum(ran),
            parent_tallied=sum(sum(t.succeeded.values()) for t in tallies),
            parent_in_flight=get_runner().in_flight(),
        )
        print(json.dumps(outcome), flush=True)


def _mp_child(harness: HookHarness, write_end: int) -> None:
    _report_from_child(harness, write_end)


def _fork_child(harness: HookHarness, read_end: int, write_end: int) -> None:
    code = 1
    try:
        os.close(read_end)
        _report_from_child(harness, write_end)
        code = 0
    finally:
        os._exit(code)


def _report_from_child(harness: HookHarness, write_end: int) -> None:
    # A lock left held at the fork would hang the child: it prints where it hangs and dies instead.
    faulthandler.dump_traceback_later(25, exit=True)
    try:
        report = _child_checks(harness)
    except BaseException as exc:
        report = {"error": repr(exc)}
    os.write(write_end, json.dumps(report).encode())
    os.close(write_end)


def _wait_for_child(pid: int, read_end: int) -> dict[str, Any] | None:
    import select

    chunks = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read_end], [], [], 0.5)
        if ready:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(read_end)
    with contextlib.suppress(ChildProcessError):  # a multiprocessing child: its Process object reaps it
        os.waitpid(pid, 0 if chunks else os.WNOHANG)
    if not chunks:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return None
    return json.loads(b"".join(chunks))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("soak")
    run.add_argument("--config", default="funcscope-full")
    run.add_argument("--mode", choices=("sync", "async"), default="sync")
    run.add_argument("--invocations", type=int, default=100_000)
    run.add_argument("--checkpoints", default="10000,50000,100000")
    fork = sub.add_parser("forks")
    fork.add_argument("--forks", type=int, default=500)
    fork.add_argument("--load-threads", type=int, default=4)
    args = parser.parse_args(argv)
    if args.command == "soak":
        checkpoints = [int(c) for c in args.checkpoints.split(",") if int(c) <= args.invocations]
        soak(args.config, args.mode, args.invocations, checkpoints or [args.invocations])
    else:
        forks(args.forks, args.load_threads)


if __name__ == "__main__":
    main(sys.argv[1:])
