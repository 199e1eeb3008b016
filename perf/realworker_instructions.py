"""Instructions per invocation inside the real worker process, per configuration: what noise cannot move.

    .venv/bin/python perf/realworker_instructions.py [--invocations N] [--configs a,b] [--functions f,g]

Needs valgrind (callgrind) and the worker venv (`make worker-venv`; the worker folder and venv come from
`FUNCSCOPE_REALWORKER` and `FUNCSCOPE_REALWORKER_PYTHON` as for the tests). The driver and its worker run under
callgrind (the worker's interpreter is a wrapper that starts it there); after a warm-up the worker's counters are
zeroed, N sequential invocations are sent, and the worker's counters are dumped: their total over N is what one
invocation costs in the worker process, every thread of it, garbage collection included. Wall time on a shared
machine moves by tens of percent from run to run; these counts by a few percent at most. A run takes about
40 s per configuration and function.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from funcscope.bench.configs import CONFIG_SETTING, config
from funcscope.bench.realworker.bench import REALWORKER_CONFIGS
from funcscope.bench.realworker.client import Location, RealWorker, locate
from funcscope.bench.throughput import write_bench_app

FUNCTIONS = ("trivial_sync", "trivial_async")


def _wrapper(workdir: Path, python: Path) -> Path:
    script = workdir / "python-under-callgrind"
    script.write_text(
        "#!/bin/sh\n"
        f'exec valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="{workdir}/%p.out" '
        f'"{python}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _dumped_total(workdir: Path, pid: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for dump in sorted(workdir.glob(f"{pid}.out.*")):  # the dump callgrind_control -d asked for
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
        time.sleep(0.5)
    raise RuntimeError(f"no callgrind dump of worker {pid} appeared")


def measure(name: str, function: str, n: int, app: Path, location: Location, workdir: Path) -> int:
    """Instructions per invocation of `function` in configuration `name`, in the worker process."""
    cfg = config(name)
    flag = "01" if cfg.sampled else "00"

    def calls(k: int) -> list[dict[str, object]]:
        return [
            {
                "function_name": function,
                "payload": {"method": "GET"},
                "trace_parent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-{flag}",
            }
            for _ in range(k)
        ]

    with RealWorker(
        app,
        extensions_enabled=cfg.hooks,
        env={CONFIG_SETTING: name},
        telemetry="none",
        timeout=900,
        location=location,
    ) as worker:
        worker.invoke_many(calls(60), concurrency=1)  # imports, first invocations, the pool's threads
        (pid,) = worker.pids
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
        worker.invoke_many(calls(n), concurrency=1)
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
        return _dumped_total(workdir, pid) // n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invocations", type=int, default=300)
    parser.add_argument("--configs", default=",".join(REALWORKER_CONFIGS))
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("realworker_instructions: valgrind (callgrind) is not installed", file=sys.stderr)
        return 2
    os.environ.setdefault("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    os.environ.setdefault("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")
    found = locate()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    functions = [f.strip() for f in args.functions.split(",") if f.strip()]
    with tempfile.TemporaryDirectory(prefix="funcscope-callgrind-") as tmp:
        workdir = Path(tmp)
        app = write_bench_app(workdir / "app")
        location = Location(found.folder, _wrapper(workdir, found.python))
        counts = {(c, f): measure(c, f, args.invocations, app, location, workdir) for f in functions for c in configs}
    print("| instructions per invocation, worker process (× none) | " + " | ".join(functions) + " |")
    print("|---" * (len(functions) + 1) + "|")
    for name in configs:
        cells = []
        for function in functions:
            base = counts.get(("none", function))
            ratio = f" ({counts[(name, function)] / base:.2f}×)" if base else ""
            cells.append(f"{counts[(name, function)] / 1000:,.0f} k{ratio}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
