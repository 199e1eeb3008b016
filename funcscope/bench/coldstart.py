"""Cold start: what importing funcscope and `configure()` add to a worker process's start, with and without the
Azure Monitor distro, next to a baseline measured in the same run.

Each measurement is a fresh Python process that imports what a function app imports and configures telemetry the
way the configuration says, timing the import and the configure step itself (`time.perf_counter`), and counting
the modules loaded. Rounds interleave the configurations. Exporters point at a closed port on 127.0.0.1 and the
process leaves before anything would be exported: nothing leaves the machine, and only the set-up is measured.

Configurations:
- `baseline`: `import azure.functions`, the one import every function app has;
- `funcscope-none`: funcscope, `exporter="none"` (the SDK's providers, no exporter);
- `funcscope-otlp`: funcscope exporting over OTLP/HTTP;
- `funcscope-azure-monitor`: funcscope exporting to Azure Monitor through the distro;
- `distro-alone`: the distro's `configure_azure_monitor()` with its defaults (its instrumentations imported at
  once), without funcscope.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from statistics import median
from typing import Any

from .child import child_env

__all__ = ["COLDSTART_CONFIGS", "measure_coldstart"]

COLDSTART_CONFIGS = ("baseline", "funcscope-none", "funcscope-otlp", "funcscope-azure-monitor", "distro-alone")
BASELINE = "baseline"
LIBRARIES = ("requests", "urllib3", "httpx", "aiohttp", "django", "flask", "fastapi", "psycopg2")

_CHILD = """
import json, os, sys, time
config = sys.argv[1]
started = time.perf_counter()
import azure.functions
if config.startswith("funcscope"):
    import funcscope
elif config == "distro-alone":
    from azure.monitor.opentelemetry import configure_azure_monitor
imported = time.perf_counter()
if config == "funcscope-none":
    funcscope.configure(exporter="none")
elif config.startswith("funcscope"):
    funcscope.configure()
elif config == "distro-alone":
    configure_azure_monitor(enable_live_metrics=False)
configured = time.perf_counter()
libraries = json.loads(sys.argv[2])
print(json.dumps({
    "import_ms": (imported - started) * 1000,
    "configure_ms": (configured - imported) * 1000,
    "modules": len(sys.modules),
    "libraries": [name for name in libraries if name in sys.modules],
}), flush=True)
os._exit(0)  # leave before any exporter runs
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(config: str, port: int) -> dict[str, str]:
    extra = {
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
        "OTEL_METRIC_EXPORT_INTERVAL": "600000",
        "FUNCTIONS_WORKER_RUNTIME": "python",
    }
    if config == "funcscope-otlp":
        extra["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
    if config in ("funcscope-azure-monitor", "distro-alone"):
        extra["APPLICATIONINSIGHTS_CONNECTION_STRING"] = (
            f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:{port}/"
        )
    return child_env(extra)


def _one(config: str, port: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, config, json.dumps(LIBRARIES)],
        env=_env(config, port),
        capture_output=True,
        text=True,
        timeout=180,
    )
    if proc.returncode != 0:
        from .child import BenchError

        raise BenchError(f"cold-start child {config} exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure_coldstart(
    configs: Sequence[str] = COLDSTART_CONFIGS, rounds: int = 5, progress: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Median import and configure times per configuration over `rounds` interleaved rounds (one process each,
    after one warm-up process per configuration so the file cache is warm for all), with the ratio of the total
    to the baseline's; the modules loaded and which instrumentable libraries were imported."""
    port = _closed_port()
    for config in configs:
        _one(config, port)  # warm-up: compiled bytecode and the file cache are there for every configuration alike
    samples: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    for _ in range(rounds):
        for config in configs:
            samples[config].append(_one(config, port))
            if progress is not None:
                progress(f"cold start {config}")
    rows = []
    for config in configs:
        runs = samples[config]
        import_ms, configure_ms = median(r["import_ms"] for r in runs), median(r["configure_ms"] for r in runs)
        rows.append(
            {
                "config": config,
                "import_ms": round(import_ms, 1),
                "configure_ms": round(configure_ms, 1),
                "total_ms": round(median(r["import_ms"] + r["configure_ms"] for r in runs), 1),
                "modules": runs[-1]["modules"],
                "libraries_imported": runs[-1]["libraries"],
            }
        )
    base = next((r["total_ms"] for r in rows if r["config"] == BASELINE), None)
    for row in rows:
        row["ratio_to_baseline"] = round(row["total_ms"] / base, 2) if base else None
    return rows


def format_coldstart(rows: list[dict[str, Any]]) -> str:
    out = [
        "Cold start: import + configure() in a fresh process, ms (median), × = ratio to the baseline "
        "(import azure.functions)",
        f"  {'config':<26}{'import':>9}{'configure':>11}{'total':>9}{'×':>7}{'modules':>9}  libraries imported",
    ]
    for r in rows:
        ratio = f"{r['ratio_to_baseline']:.2f}" if r["ratio_to_baseline"] is not None else "-"
        libraries = ", ".join(r["libraries_imported"]) or "-"
        out.append(
            f"  {r['config']:<26}{r['import_ms']:>9.1f}{r['configure_ms']:>11.1f}{r['total_ms']:>9.1f}{ratio:>7}"
            f"{r['modules']:>9}  {libraries}"
        )
    return "\n".join(out)
