"""`funcscope bench`: overhead, throughput and cold start of every configuration, measured in one run, with tables,
JSON and a chart; and round trips through the real classic worker when it is given (`--realworker`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .coldstart import COLDSTART_CONFIGS
from .configs import OVERHEAD_CONFIGS, THROUGHPUT_CONFIGS
from .overhead import MODES as OVERHEAD_MODES
from .realworker.bench import CELLS as REALWORKER_CELLS
from .realworker.bench import REALWORKER_CONFIGS
from .realworker.client import FOLDER_ENV, PYTHON_ENV
from .throughput import MODES as THROUGHPUT_MODES
from .throughput import WORKLOADS

__all__ = ["BenchPlan", "add_parser", "run_bench"]

PARTS = ("overhead", "throughput", "coldstart", "realworker")


@dataclass
class BenchPlan:
    """What one run measures and how hard. `quick()` finishes in under two minutes on two cores."""

    overhead_configs: Sequence[str] = OVERHEAD_CONFIGS
    overhead_modes: Sequence[str] = OVERHEAD_MODES
    throughput_configs: Sequence[str] = THROUGHPUT_CONFIGS
    throughput_modes: Sequence[str] = tuple(THROUGHPUT_MODES)
    workloads: Sequence[str] = tuple(WORKLOADS)
    overhead_rounds: int = 10
    invocations: int = 3000
    throughput_rounds: int = 3
    seconds_per_cell: float = 1.0
    coldstart_configs: Sequence[str] = COLDSTART_CONFIGS
    coldstart_rounds: int = 7
    #: Where the real worker and its venv are (a `realworker.client.Location`); None: not measured there.
    realworker: Any = None
    realworker_configs: Sequence[str] = REALWORKER_CONFIGS
    realworker_rounds: int = 6
    realworker_scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls, **changes: Any) -> BenchPlan:
        plan = cls(
            overhead_rounds=3,
            invocations=1000,
            throughput_rounds=1,
            seconds_per_cell=0.15,
            coldstart_rounds=2,
            realworker_rounds=2,
            realworker_scale=0.25,
        )
        for key, value in changes.items():
            setattr(plan, key, value)
        return plan


class _Progress:
    """A progress bar on stderr: tqdm's when it is installed, else one plain line rewritten in place."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.enabled = enabled
        self._started = time.monotonic()
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, file=sys.stderr, unit="step", dynamic_ncols=True, leave=False)
            except ImportError:
                self._bar = None

    def __call__(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(1)
            return
        elapsed = time.monotonic() - self._started
        width = 30
        filled = int(width * self.done / max(1, self.total))
        end = "\n" if self.done >= self.total else ""
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {elapsed:5.0f}s {label[:60]:<60}{end}"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_bench(plan: BenchPlan, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the plan; returns {"machine", "overhead", "throughput", "coldstart", "realworker"} (the JSON document)."""
    from .coldstart import measure_coldstart
    from .overhead import measure_overhead
    from .report import machine_info
    from .throughput import cells, measure_throughput

    run = {
        "overhead_rounds": plan.overhead_rounds,
        "invocations_per_round": plan.invocations,
        "throughput_rounds": plan.throughput_rounds,
        "seconds_per_cell": plan.seconds_per_cell,
        "coldstart_rounds": plan.coldstart_rounds,
        **plan.extra,
    }
    if plan.realworker is not None:
        run.update(realworker_rounds=plan.realworker_rounds, realworker_scale=plan.realworker_scale)
    result: dict[str, Any] = {
        "machine": machine_info(run),
        "overhead": [],
        "throughput": [],
        "coldstart": [],
        "realworker": [],
    }
    started = time.monotonic()
    if plan.overhead_configs and plan.overhead_modes:
        result["overhead"] = measure_overhead(
            plan.overhead_configs,
            plan.overhead_modes,
            rounds=plan.overhead_rounds,
            invocations=plan.invocations,
            progress=progress,
        )
    if plan.throughput_configs and plan.throughput_modes and plan.workloads:
        result["throughput"] = measure_throughput(
            plan.throughput_configs,
            cells(plan.throughput_modes, plan.workloads),
            rounds=plan.throughput_rounds,
            seconds_per_cell=plan.seconds_per_cell,
            progress=progress,
        )
    if plan.coldstart_configs:
        result["coldstart"] = measure_coldstart(plan.coldstart_configs, plan.coldstart_rounds, progress=progress)
    if plan.realworker is not None and plan.realworker_configs:
        from .realworker.bench import measure_realworker

        result["realworker"] = measure_realworker(
            plan.realworker_configs,
            rounds=plan.realworker_rounds,
            scale=plan.realworker_scale,
            location=plan.realworker,
            progress=progress,
        )
    result["machine"]["run"]["elapsed_s"] = round(time.monotonic() - started, 1)
    if "load_average" in result["machine"]:
        result["machine"]["load_average_end"] = machine_info()["load_average"]
    return result


def _steps(plan: BenchPlan) -> int:
    from .throughput import cells

    total = 0
    if plan.overhead_configs and plan.overhead_modes:
        total += len(plan.overhead_configs) * len(plan.overhead_modes) * plan.overhead_rounds
    if plan.throughput_configs and plan.throughput_modes and plan.workloads:
        matrix = cells(plan.throughput_modes, plan.workloads)
        total += len(plan.throughput_configs) * len(matrix) * plan.throughput_rounds
    total += len(plan.coldstart_configs) * plan.coldstart_rounds
    if plan.realworker is not None:
        total += len(plan.realworker_configs) * len(REALWORKER_CELLS) * plan.realworker_rounds
    return total


def _csv(choices: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        bad = [v for v in values if v not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)}; choose from {', '.join(choices)}")
        return values

    return parse


def add_parser(commands: Any) -> None:
    """Add the `bench` subcommand to the CLI's subparsers."""
    bench = commands.add_parser(
        "bench",
        help="measure funcscope's overhead and throughput next to the alternatives, in one run",
        description="Per-invocation overhead through the worker's hook path (sync pool, async, 2 processes) and "
        "throughput through the worker emulator, for funcscope and the alternatives; with --realworker, round "
        "trips and throughput through the real classic worker too. Run it on a quiet machine; every number is "
        "also given as a ratio to a baseline measured in the same run.",
    )
    bench.add_argument("--quick", action="store_true", help="fewer rounds and shorter cells (under 2 minutes)")
    bench.add_argument("--json", metavar="PATH", help="write the results as JSON")
    bench.add_argument("--plot", metavar="PATH", help="write a PNG chart (needs matplotlib: funcscope[bench])")
    bench.add_argument("--only", choices=PARTS, help="run one part only")
    bench.add_argument(
        "--realworker",
        metavar="PATH",
        default=os.environ.get(FOLDER_ENV),
        help=f"the classic worker's folder (azure_functions_worker 4.34 with its mock host): measure round trips "
        f"through it too (default: ${FOLDER_ENV})",
    )
    bench.add_argument(
        "--realworker-python",
        metavar="PATH",
        help=f"the Python of the worker's venv (default: ${PYTHON_ENV}, else the checkout's .venv-worker)",
    )
    bench.add_argument(
        "--markdown", action="store_true", help="print the real-worker tables and the targets as Markdown"
    )
    bench.add_argument(
        "--configs",
        type=_csv(sorted(set(OVERHEAD_CONFIGS) | set(THROUGHPUT_CONFIGS) | set(COLDSTART_CONFIGS))),
        help="comma-separated configurations to measure (default: all of each half)",
    )
    bench.add_argument(
        "--workloads",
        type=_csv(tuple(WORKLOADS)),
        help=f"comma-separated throughput workloads (default: {','.join(WORKLOADS)})",
    )
    bench.add_argument("--rounds", type=int, help="rounds of each half (medians are taken over them)")
    bench.add_argument("--invocations", type=int, help="invocations per overhead measurement")
    bench.add_argument("--seconds", type=float, help="rough seconds per throughput cell")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.set_defaults(run=_run)


def _opencensus_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("opencensus.extension.azure.functions") is not None
    except ImportError:
        return False


def _distro_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("azure.monitor.opentelemetry") is not None
    except ImportError:
        return False


def _run(args: argparse.Namespace) -> int:
    from .child import BenchError
    from .realworker.client import RealWorkerError
    from .report import check_targets, format_tables, format_targets, write_json, write_plot

    plan = BenchPlan.quick() if args.quick else BenchPlan()
    plan.extra["quick"] = bool(args.quick)
    if args.configs:
        plan.overhead_configs = [c for c in OVERHEAD_CONFIGS if c in args.configs]
        plan.throughput_configs = [c for c in THROUGHPUT_CONFIGS if c in args.configs]
        plan.coldstart_configs = [c for c in COLDSTART_CONFIGS if c in args.configs]
        plan.realworker_configs = [c for c in REALWORKER_CONFIGS if c in args.configs]
    if args.workloads:
        plan.workloads = args.workloads
    census = ("opencensus", "funcscope-opencensus")  # the original, and the drop-in compared with it
    if not _opencensus_installed() and any(c in census for c in [*plan.overhead_configs, *plan.throughput_configs]):
        print(
            "funcscope bench: opencensus-extension-azure-functions is not installed (funcscope[bench]); "
            "measuring without the opencensus configurations",
            file=sys.stderr,
        )
        plan.overhead_configs = [c for c in plan.overhead_configs if c not in census]
        plan.throughput_configs = [c for c in plan.throughput_configs if c not in census]
    if not _distro_installed():
        plan.coldstart_configs = [c for c in plan.coldstart_configs if "azure-monitor" not in c and "distro" not in c]
    if args.only is not None:
        for part in PARTS:
            if part != args.only:
                setattr(plan, f"{part}_configs", [])
    if args.realworker or args.only == "realworker":
        from .realworker.client import WorkerMissing, locate

        try:
            plan.realworker = locate(args.realworker, args.realworker_python)
        except WorkerMissing as exc:
            print(f"funcscope bench: {exc}", file=sys.stderr)
            return 2
    if plan.realworker is not None and not _opencensus_installed():
        plan.realworker_configs = [c for c in plan.realworker_configs if c not in census]
    if args.rounds is not None:
        rounds = max(1, args.rounds)
        plan.overhead_rounds = plan.throughput_rounds = plan.coldstart_rounds = plan.realworker_rounds = rounds
    if args.invocations is not None:
        plan.invocations = max(1, args.invocations)
    if args.seconds is not None:
        plan.seconds_per_cell = max(0.0, args.seconds)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("funcscope bench: --plot needs matplotlib; install 'funcscope[bench]'", file=sys.stderr)
            return 2
    progress = _Progress(_steps(plan), enabled=not args.no_progress)
    try:
        result = run_bench(plan, progress)
    except (BenchError, RealWorkerError) as exc:
        print(f"funcscope bench: {exc}", file=sys.stderr)
        return 1
    finally:
        progress.close()
    print(format_tables(result, markdown=args.markdown))
    targets = format_targets(check_targets(result), markdown=args.markdown)
    if targets:
        print("\n" + targets)
    machine = result["machine"]
    print(
        f"\n{machine['date']}  Python {machine['python']}  {machine['cpu']} x{machine['cpu_count']}  "
        f"load {machine.get('load_average', '?')}  {machine['run']['elapsed_s']} s"
    )
    if args.json:
        write_json(result, args.json)
        print(f"JSON: {args.json}")
    if args.plot:
        write_plot(result, args.plot)
        print(f"chart: {args.plot}")
    return 0
