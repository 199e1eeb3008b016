"""What a benchmark run reports: the machine, the tables, the targets, the JSON document and the chart."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["check_targets", "format_tables", "machine_info", "write_json", "write_plot"]

_PACKAGES = ("funcscope", "azure-functions", "opentelemetry-sdk", "opencensus-extension-azure-functions")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(run: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where and when the numbers were taken: they only mean something next to this."""
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "packages": {p: _version(p) for p in _PACKAGES},
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if run:
        info["run"] = run
    return info


# -- tables --------------------------------------------------------------------------------------------------------


def _ordered(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def format_tables(result: dict[str, Any], markdown: bool = False) -> str:
    """The overhead, throughput, cold-start and real-worker tables as plain text (the real worker's as Markdown
    with `markdown`)."""
    out: list[str] = []
    overhead = result.get("overhead") or []
    if overhead:
        modes = _ordered([r["mode"] for r in overhead])
        configs = _ordered([r["config"] for r in overhead])
        by = {(r["config"], r["mode"]): r for r in overhead}
        out.append("Per-invocation overhead: µs per invocation (median), × = ratio to the manual one-span pattern")
        out.append(f"  {'config':<24}" + "".join(f"{m:>22}" for m in modes))
        for name in configs:
            cells = []
            for mode in modes:
                row = by.get((name, mode))
                if row is None:
                    cells.append(f"{'-':>22}")
                    continue
                ratio = row["ratio_to_manual_span"]
                text = f"{row['us_per_invocation']:.1f}" + (f" ({ratio:.2f}×)" if ratio is not None else "")
                cells.append(f"{text:>22}")
            out.append(f"  {name:<24}" + "".join(cells))
        own = []
        for mode in modes:
            full, hand = by.get(("funcscope-full", mode)), by.get(("manual-equivalent", mode))
            if full is not None and hand is not None and hand["us_per_invocation"]:
                own.append(f"{full['us_per_invocation'] / hand['us_per_invocation']:.2f}× ({mode})")
        if own:
            out.append("  funcscope-full ÷ the same telemetry written by hand (manual-equivalent): " + ", ".join(own))
    throughput = result.get("throughput") or []
    if throughput:
        configs = _ordered([r["config"] for r in throughput])
        keys = _ordered([(r["mode"], r["concurrency"], r["workload"]) for r in throughput])
        cell = {(r["config"], r["mode"], r["concurrency"], r["workload"]): r for r in throughput}
        if out:
            out.append("")
        out.append("Throughput through the emulator: invocations/s (× = ratio to none)  p50/p99 latency ms")
        out.append(f"  {'mode':<10}{'conc':>5} {'workload':<12}" + "".join(f"{c:>28}" for c in configs))
        for mode, concurrency, workload in keys:
            cells = []
            for name in configs:
                row = cell.get((name, mode, concurrency, workload))
                if row is None:
                    cells.append(f"{'-':>28}")
                    continue
                ratio = row["ratio_to_none"]
                text = (
                    f"{row['invocations_per_s']:.0f}"
                    + (f" {ratio:.2f}×" if ratio is not None else "")
                    + f"  {row['p50_ms']:.1f}/{row['p99_ms']:.1f}"
                )
                cells.append(f"{text:>28}")
            out.append(f"  {mode:<10}{concurrency:>5} {workload:<12}" + "".join(cells))
    coldstart = result.get("coldstart") or []
    if coldstart:
        from .coldstart import format_coldstart

        if out:
            out.append("")
        out.append(format_coldstart(coldstart))
    realworker = result.get("realworker") or []
    if realworker:
        from .realworker.bench import format_realworker

        if out:
            out.append("")
        out.append(format_realworker(realworker, markdown))
    return "\n".join(out)


# -- targets -------------------------------------------------------------------------------------------------------


def check_targets(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The benchmark targets, as (target, measured, met) for those this run has the numbers for."""
    checks: list[tuple[str, str, bool]] = []
    overhead = {(r["config"], r["mode"]): r["us_per_invocation"] for r in result.get("overhead") or []}
    modes = _ordered([mode for _, mode in overhead])
    for mode in modes:
        full, manual = overhead.get(("funcscope-full", mode)), overhead.get(("manual", mode))
        if full is not None and manual:
            checks.append((f"funcscope-full <= 1.5x manual ({mode})", f"{full / manual:.2f}x", full <= 1.5 * manual))
        census = overhead.get(("opencensus", mode))
        if full is not None and census:
            checks.append(
                (f"funcscope-full cheaper than opencensus ({mode})", f"{full:.1f} vs {census:.1f} µs", full < census)
            )
        out, builtin = overhead.get(("funcscope-sampled-out", mode)), overhead.get(("builtin", mode))
        if out is not None and builtin:
            checks.append((f"sampled-out <= 1.5x builtin ({mode})", f"{out / builtin:.2f}x", out <= 1.5 * builtin))
    throughput = {(r["config"], r["mode"], r["concurrency"], r["workload"]): r for r in result.get("throughput") or []}
    for name in _ordered([key[0] for key in throughput]):
        row = throughput.get((name, "async", 512, "io-5ms"))
        if name != "none" and row is not None and row["ratio_to_none"] is not None:
            checks.append(
                (
                    f"{name}: io-5ms on 512 async tasks >= 0.8 of none",
                    f"{row['ratio_to_none']:.3f}",
                    row["ratio_to_none"] >= 0.8,
                )
            )
        one, two = throughput.get((name, "processes", 1, "cpu-1ms")), throughput.get((name, "processes", 2, "cpu-1ms"))
        if one is not None and two is not None and one["invocations_per_s"] > 0:
            scale = two["invocations_per_s"] / one["invocations_per_s"]
            checks.append((f"{name}: 2 processes >= 1.7x one on cpu-1ms", f"{scale:.2f}x", scale >= 1.7))
    from .realworker.bench import realworker_targets

    checks += realworker_targets(result.get("realworker") or [])
    return checks


def format_targets(checks: Sequence[tuple[str, str, bool]], markdown: bool = False) -> str:
    if not checks:
        return ""
    if markdown:
        rows = [f"| {target} | {measured} | {'met' if met else '**missed**'} |" for target, measured, met in checks]
        return "\n".join(["**Targets**", "", "| target | measured | |", "|---|---|---|", *rows])
    width = max(len(t) for t, _, _ in checks)
    lines = ["Targets:"]
    lines += [f"  {'met   ' if met else 'MISSED'} {target:<{width}}  {measured}" for target, measured, met in checks]
    return "\n".join(lines)


# -- files ---------------------------------------------------------------------------------------------------------


def write_json(result: dict[str, Any], path: str | Path) -> None:
    """The result as JSON: {"machine", "overhead": [...], "throughput": [...], "coldstart": [...], "realworker":
    [...]}."""
    document = {
        "machine": result.get("machine", {}),
        "overhead": result.get("overhead", []),
        "throughput": result.get("throughput", []),
        "coldstart": result.get("coldstart", []),
        "realworker": result.get("realworker", []),
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def write_plot(result: dict[str, Any], path: str | Path) -> None:
    """A PNG: overhead per configuration and mode, and throughput relative to none per cell."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("funcscope bench --plot needs matplotlib: pip install 'funcscope[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    overhead = result.get("overhead") or []
    throughput = [r for r in result.get("throughput") or [] if r["config"] != "none"]
    panels = [p for p in (overhead, throughput) if p]
    fig, axes = plt.subplots(len(panels) or 1, 1, figsize=(14, 5 * max(1, len(panels))), squeeze=False)
    axis_iter = iter(axes[:, 0])
    if overhead:
        ax = next(axis_iter)
        modes = _ordered([r["mode"] for r in overhead])
        configs = _ordered([r["config"] for r in overhead])
        by = {(r["config"], r["mode"]): r["us_per_invocation"] for r in overhead}
        width = 0.8 / max(1, len(configs))
        for i, name in enumerate(configs):
            xs = [m + i * width for m in range(len(modes))]
            ax.bar(xs, [by.get((name, mode), 0) for mode in modes], width, label=name)
        ax.set_xticks([m + width * (len(configs) - 1) / 2 for m in range(len(modes))], modes)
        ax.set_ylabel("µs per invocation (median)")
        ax.set_title("Per-invocation overhead")
        ax.legend(fontsize="small", ncol=2)
    if throughput:
        ax = next(axis_iter)
        keys = _ordered([(r["mode"], r["concurrency"], r["workload"]) for r in throughput])
        configs = _ordered([r["config"] for r in throughput])
        ratio_of = {
            (r["config"], r["mode"], r["concurrency"], r["workload"]): r["ratio_to_none"] or 0 for r in throughput
        }
        width = 0.8 / max(1, len(configs))
        for i, name in enumerate(configs):
            xs = [k + i * width for k in range(len(keys))]
            ax.bar(xs, [ratio_of.get((name, *key), 0) for key in keys], width, label=name)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(
            [k + width * (len(configs) - 1) / 2 for k in range(len(keys))],
            [f"{m}/{c}\n{w}" for m, c, w in keys],
            fontsize="x-small",
            rotation=90,
        )
        ax.set_ylabel("invocations/s relative to none")
        ax.set_title("Throughput through the worker emulator")
        ax.legend(fontsize="small")
    machine = result.get("machine", {})
    python = machine.get("python", sys.version.split()[0])
    fig.suptitle(
        f"funcscope bench — {machine.get('date', '')}, Python {python}, {machine.get('cpu_count', '?')} CPUs",
        fontsize="medium",
    )
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
