"""The checks `funcscope doctor` runs: each a small function of the app's facts returning findings with their fix.

A check takes `AppFacts` (what the app folder, its settings and, when a check asks, loading it show) and returns
`Finding`s: a `problem` (the app will not get its telemetry as it expects; the doctor exits 1) or a `note`
(worth knowing, nothing to fix). No finding means the check passed. To add one, write the function and add it
to `CHECKS` with the sentence that says what passing means.

Settings are read as a function app gets them under Core Tools: `local.settings.json`'s `Values` under the
shell's environment. What only holds locally is said so, since Azure reads the app's settings instead.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..emulator.worker import PROCESS_COUNT_SETTING, THREAD_COUNT_SETTING
from ..shared.diagnostics import without_prefix
from ..shared.settings import ENV_PREFIX, EXPORTERS, switched_off
from .app_settings import LOCAL_SETTINGS_FILE, LocalSettings, json_error, read_local_settings
from .probe import AppProbe, probe_app

__all__ = ["CHECKS", "AppFacts", "Check", "Finding", "Requirements"]

V2_SCRIPT = "function_app.py"
MAX_PROCESS_COUNT = 10  # the host starts at most this many worker processes
EXPORTER_SETTING = ENV_PREFIX + "EXPORTER"
CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
OTLP_ENDPOINTS = tuple(f"OTEL_EXPORTER_OTLP_{signal}ENDPOINT" for signal in ("", "TRACES_", "METRICS_", "LOGS_"))
# funcscope's extra for an exporter -> the distribution that extra installs
EXTRA_DISTRIBUTIONS = {
    "azure-monitor": "azure-monitor-opentelemetry",
    "otlp": "opentelemetry-exporter-otlp-proto-http",
    "otlp-grpc": "opentelemetry-exporter-otlp-proto-grpc",
}


@dataclass(frozen=True)
class Finding:
    """One thing a check found: what, and how to fix it (None for a note that needs no fix)."""

    message: str
    fix: str | None = None
    severity: Literal["problem", "note"] = "problem"


def problem(message: str, fix: str) -> Finding:
    return Finding(message, fix, "problem")


def note(message: str, fix: str | None = None) -> Finding:
    return Finding(message, fix, "note")


@dataclass
class Requirements:
    """An app's `requirements.txt` (and the files it includes with `-r`), by canonical project name."""

    path: Path
    exists: bool = False
    requirements: dict[str, Requirement] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Requirements:
        found = cls(path, path.is_file())
        if found.exists:
            found._read(path, set())
        return found

    def _read(self, path: Path, seen: set[Path]) -> None:
        if path in seen:
            return
        seen.add(path)
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(f"{path.name} cannot be read: {exc}")
            return
        for number, raw in enumerate(lines, 1):
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("-r ", "--requirement ")):
                self._read(path.parent / line.split(None, 1)[1].strip(), seen)
                continue
            if line.startswith("-"):  # other pip options (-e, -c, --index-url, ...): nothing to check
                continue
            try:
                requirement = Requirement(line)
            except InvalidRequirement as exc:
                self.problems.append(f"{path.name} line {number} is not a requirement pip can read: {exc}")
                continue
            self.requirements[canonicalize_name(requirement.name)] = requirement

    def get(self, name: str) -> Requirement | None:
        return self.requirements.get(canonicalize_name(name))


@dataclass
class AppFacts:
    """What the checks look at; each part is read once, when a check first asks for it."""

    app_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    python: tuple[int, int] = (sys.version_info.major, sys.version_info.minor)

    @cached_property
    def local(self) -> LocalSettings:
        return read_local_settings(self.app_dir)

    @cached_property
    def settings(self) -> dict[str, str]:
        """The app settings the app gets under Core Tools."""
        return self.local.effective(self.environ)

    def where(self, name: str) -> str:
        """Where a setting's value comes from, in words."""
        if name in self.environ:
            return "the environment"
        return LOCAL_SETTINGS_FILE if name in self.local.values else "nowhere"

    @cached_property
    def requirements(self) -> Requirements:
        return Requirements.read(self.app_dir / "requirements.txt")

    @cached_property
    def is_v2(self) -> bool:
        return (self.app_dir / self.settings.get("PYTHON_SCRIPT_FILE_NAME", V2_SCRIPT)).is_file()

    @cached_property
    def function_folders(self) -> list[Path]:
        """Subfolders with a `function.json` (the v1 model's functions)."""
        return sorted(p.parent for p in self.app_dir.glob("*/function.json") if not p.parent.name.startswith("."))

    @cached_property
    def probe(self) -> AppProbe:
        """The app loaded in a child process, with these settings; funcscope's own exporter set-up is left out
        (the exporter check reads those settings) so that loading sends nothing anywhere."""
        env = {
            **self.settings,
            EXPORTER_SETTING: "none",
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
            "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        }
        return probe_app(self.app_dir, env)

    @cached_property
    def funcscope_registered(self) -> bool:
        """funcscope's app-level extension or a `FunctionScope` is registered by the app."""
        return any(name in ("FuncScopeExtension", "FunctionScope") for name in self.probe.extensions)

    @cached_property
    def undecorated(self) -> list[str]:
        """Functions no funcscope wrapper wraps as the app loads."""
        return [f["name"] for f in self.probe.functions if not f["decorated"]]

    @cached_property
    def funcscope_configured(self) -> bool:
        """The app loads and uses funcscope: its extension, a `FunctionScope` or a wrapped function."""
        return self.probe.loaded and (self.funcscope_registered or len(self.undecorated) < len(self.probe.functions))


Check = Callable[[AppFacts], Iterable[Finding]]


def _on(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true")


# -- the checks -------------------------------------------------------------------------------------------------


def check_app_folder(facts: AppFacts) -> Iterable[Finding]:
    if not facts.app_dir.is_dir():
        yield problem(f"{facts.app_dir} is not a folder", "pass the folder that holds host.json")
        return
    if not (facts.app_dir / "host.json").is_file():
        yield problem(
            f"{facts.app_dir} has no host.json, so the Functions host does not see a function app there",
            'pass the app\'s root folder, or create host.json with {"version": "2.0"}',
        )
    if not facts.is_v2 and not facts.function_folders:
        yield problem(
            f"{facts.app_dir} has neither {V2_SCRIPT} (v2 model) nor function folders with function.json (v1)",
            "pass the function app's folder",
        )


def _json_file(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig")), None
    except json.JSONDecodeError as exc:
        return None, json_error(path, exc)
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path.name} cannot be read: {exc}"


def check_json_files(facts: AppFacts) -> Iterable[Finding]:
    host = facts.app_dir / "host.json"
    if host.is_file():
        data, error = _json_file(host)
        if error:
            yield problem(error, "fix the JSON: the host does not start with a malformed host.json")
        elif not isinstance(data, dict) or data.get("version") != "2.0":
            yield problem('host.json has no "version": "2.0"', 'add "version": "2.0" at its top level')
    for message in facts.local.problems:
        if facts.local.encrypted:
            yield note(message + "; the checks read the shell's environment only")
        else:
            yield problem(message, f"fix {LOCAL_SETTINGS_FILE}: Core Tools reads it as JSON with string values")
    for folder in facts.function_folders:
        data, error = _json_file(folder / "function.json")
        if error:
            yield problem(f"{folder.name}/{error}", "fix the JSON: the host does not index a malformed function")
        elif not isinstance(data, dict) or not isinstance(data.get("bindings"), list):
            yield problem(f'{folder.name}/function.json has no "bindings" list', "declare the function's bindings")


def _defines_main(folder: Path) -> bool:
    for script in folder.glob("*.py"):
        try:
            tree = ast.parse(script.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "main" for n in tree.body):
            return True
    return False


def check_function_folders(facts: AppFacts) -> Iterable[Finding]:
    if facts.is_v2 or not facts.app_dir.is_dir():
        return
    declared = set(facts.function_folders)
    for folder in sorted(p for p in facts.app_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if folder not in declared and _defines_main(folder):
            yield problem(
                f"{folder.name}/ defines main() but has no function.json, so the host never runs it",
                f"add {folder.name}/function.json with the function's bindings (or rename main if it is no function)",
            )


def check_requirements(facts: AppFacts) -> Iterable[Finding]:
    reqs = facts.requirements
    if not reqs.exists:
        yield problem(
            "the app has no requirements.txt, so a deployment installs nothing it needs",
            "create requirements.txt with funcscope[azure-monitor] (or funcscope[otlp])",
        )
        return
    for message in reqs.problems:
        yield problem(message, "fix the line: the deployment's pip install fails on it")
    funcscope = reqs.get("funcscope")
    if funcscope is None:
        yield problem(
            "requirements.txt does not list funcscope, so the deployed app cannot import it",
            "add funcscope[azure-monitor] (or funcscope[otlp]) to requirements.txt",
        )
        return
    for extra in _extras_in_use(facts.settings):
        distribution = EXTRA_DISTRIBUTIONS[extra]
        if extra not in funcscope.extras and reqs.get(distribution) is None:
            yield problem(
                f"the settings ask for the exporter of funcscope[{extra}], but requirements.txt installs neither "
                f"it nor {distribution}, so the deployed app sends nothing there",
                f"list funcscope[{extra}] in requirements.txt",
            )


def _funcscope_minimum(project: str) -> Version | None:
    """The lowest version of `project` funcscope itself accepts (from its own metadata)."""
    try:
        requires = importlib.metadata.requires("funcscope") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for line in requires:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == canonicalize_name(project) and not requirement.marker:
            lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "~=", "==")]
            return max(lows) if lows else None
    return None


def _highest_allowed(requirement: Requirement) -> Version | None:
    """The highest version a requirement's specifier allows, when it has an upper bound or a pin."""
    highest: Version | None = None
    for spec in requirement.specifier:
        if spec.operator in ("==", "===", "<=", "<", "~=") and "*" not in spec.version:
            try:
                bound = Version(spec.version)
            except InvalidVersion:
                continue
            highest = bound if highest is None else min(highest, bound)
    return highest


def check_azure_functions(facts: AppFacts) -> Iterable[Finding]:
    minimum = _funcscope_minimum("azure-functions")
    try:
        installed = importlib.metadata.version("azure-functions")
    except importlib.metadata.PackageNotFoundError:
        yield problem("azure-functions is not installed here", "pip install azure-functions (the app's SDK)")
        return
    import azure.functions

    if not hasattr(azure.functions, "ExtensionMeta") or (minimum is not None and Version(installed) < minimum):
        yield problem(
            f"azure-functions {installed} is installed here, too old for funcscope's worker extensions",
            f"pip install 'azure-functions>={minimum or '1.18'}'",
        )
    pinned = facts.requirements.get("azure-functions") if facts.requirements.exists else None
    highest = _highest_allowed(pinned) if pinned is not None else None
    if pinned is not None and minimum is not None and highest is not None and highest < minimum:
        yield problem(
            f"requirements.txt pins {pinned}, but funcscope needs azure-functions>={minimum} for its extensions "
            "(the deployment's pip install fails)",
            f"allow azure-functions>={minimum} in requirements.txt (or leave it unpinned)",
        )


def check_loads(facts: AppFacts) -> Iterable[Finding]:
    if not facts.app_dir.is_dir() or (not facts.is_v2 and not facts.function_folders):
        return
    if not facts.probe.loaded:
        fix = (
            f"fix the error in {V2_SCRIPT}: the host indexes no function of a v2 app whose script does not import"
            if facts.is_v2
            else "fix the function's script: the worker does not load it"
        )
        yield problem(f"the app does not load: {facts.probe.error}", fix)


def check_configured(facts: AppFacts) -> Iterable[Finding]:
    if not facts.probe.loaded:
        return
    if not facts.funcscope_configured:
        where = V2_SCRIPT if facts.is_v2 else "a module every function imports"
        yield problem(
            "funcscope is never configured: no function of this app is traced",
            f"add `import funcscope` and `funcscope.configure()` at the top of {where}",
        )


def check_tracing_path(facts: AppFacts) -> Iterable[Finding]:
    """The path funcscope reaches the invocations by on the worker these settings give, and the functions it
    would miss there (`runtime.tracing_path`)."""
    from ..runtime.tracing_path import tracing_path

    if switched_off(facts.settings):
        name = ENV_PREFIX + "ENABLED"
        yield note(
            f"{name}={facts.settings[name]!r} (in {facts.where(name)}) switches funcscope off: no function of this "
            "app is traced, whatever the worker.",
            f"remove {name} (or set it to true) to trace the app",
        )
        return
    yield note(tracing_path(facts.python, facts.settings).describe())
    if facts.funcscope_configured and facts.probe.untraced is not None:
        yield problem(*facts.probe.untraced)


def _extras_in_use(settings: Mapping[str, str]) -> list[str]:
    """funcscope's extras the exporter settings need: `azure-monitor`, `otlp` or `otlp-grpc`."""
    from ..shared.settings import otlp_protocol, otlp_signal_configured
    from ..telemetry.otlp import EXTRAS, SIGNALS

    choice = settings.get(EXPORTER_SETTING, "").strip().lower() or "auto"
    extras = []
    if choice == "azure-monitor" or (choice == "auto" and settings.get(CONNECTION_STRING, "").strip()):
        extras.append("azure-monitor")
    if choice == "otlp" or choice == "auto":
        signals = SIGNALS if choice == "otlp" else [s for s in SIGNALS if otlp_signal_configured(s, settings)]
        extras.extend(dict.fromkeys(EXTRAS[otlp_protocol(s, settings)] for s in signals))
    return extras


@contextlib.contextmanager
def _funcscope_says(environ: Mapping[str, str]) -> Iterator[list[str]]:
    """funcscope's own warnings while the block runs with `environ` as the environment (and every kind of
    warning allowed once more)."""
    from ..shared.diagnostics import forget_reports  # every kind of message may be said again here

    said: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                said.append(record.getMessage())

    logger = logging.getLogger("funcscope")
    handler, propagate = _Collect(), logger.propagate
    saved = dict(os.environ)
    forget_reports()
    logger.addHandler(handler)
    logger.propagate = False
    os.environ.update(environ)
    try:
        yield said
    finally:
        os.environ.clear()
        os.environ.update(saved)
        logger.removeHandler(handler)
        logger.propagate = propagate
        forget_reports()


def check_exporter(facts: AppFacts) -> Iterable[Finding]:
    if facts.probe.loaded and not facts.funcscope_configured:
        return  # funcscope is not configured (its own check says so): there is nothing it would export
    settings = facts.settings
    raw = settings.get(EXPORTER_SETTING, "").strip()
    choice = raw.lower() or "auto"
    if choice not in EXPORTERS:
        yield problem(
            f"{EXPORTER_SETTING}={raw!r} (in {facts.where(EXPORTER_SETTING)}) is not one of {', '.join(EXPORTERS)}, "
            "so funcscope ignores it",
            f"set {EXPORTER_SETTING} to one of {', '.join(EXPORTERS)}",
        )
        return
    if choice in ("console", "none"):
        return
    provider = facts.probe.tracer_provider if facts.probe.loaded else {}
    if provider.get("sdk") and not provider.get("by_funcscope"):
        return  # the app sets up its own providers, with their exporters
    for setting in OTLP_ENDPOINTS:
        endpoint = settings.get(setting, "").strip()
        if endpoint and not _is_http_url(endpoint):
            yield problem(
                f"{setting}={endpoint!r} (in {facts.where(setting)}) is not an http(s) URL",
                f"set {setting} to the collector's URL, e.g. http://localhost:4318",
            )
    # funcscope's own exporter set-up decides, with these settings (it sends nothing while setting up).
    from ..telemetry.exporters import exporters_for

    with _funcscope_says(settings) as said:
        chosen = exporters_for(choice, export_logs=False)
    for exporter in [*chosen.spans, *chosen.metrics]:
        exporter.shutdown()
    for message in said:
        yield Finding(without_prefix(message))


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_sampler(facts: AppFacts) -> Iterable[Finding]:
    finding = facts.probe.tracer_provider.get("sampler_finding") if facts.probe.loaded else None
    if finding:
        yield Finding(finding)


def _count_problem(facts: AppFacts, name: str, upper: int | None) -> Finding | None:
    raw = facts.settings.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is not None and value >= 1 and (upper is None or value <= upper):
        return None
    allowed = f"from 1 to {upper}" if upper is not None else "of 1 or more"
    return problem(
        f"{name}={raw!r} (in {facts.where(name)}) is out of range, so the worker ignores it and uses its default",
        f"set {name} to a whole number {allowed}",
    )


def check_worker_counts(facts: AppFacts) -> Iterable[Finding]:
    for name, upper in ((THREAD_COUNT_SETTING, None), (PROCESS_COUNT_SETTING, MAX_PROCESS_COUNT)):
        finding = _count_problem(facts, name, upper)
        if finding is not None:
            yield finding


def check_funcscope_messages(facts: AppFacts) -> Iterable[Finding]:
    sampler = facts.probe.tracer_provider.get("sampler_finding")
    for message in dict.fromkeys(map(without_prefix, facts.probe.messages)):  # in order, once each
        if message != sampler:  # that one has its own check
            yield Finding(f"funcscope, while the app loads: {message}")


#: (name, what passing it means, the check), in the order they run and print.
CHECKS: list[tuple[str, str, Check]] = [
    ("app-folder", "the folder is a function app", check_app_folder),
    ("json", "host.json, local.settings.json and function.json files are valid", check_json_files),
    ("function-folders", "every function folder has a function.json", check_function_folders),
    ("requirements", "requirements.txt installs funcscope and the exporter the settings use", check_requirements),
    ("azure-functions", "azure-functions is new enough for worker extensions", check_azure_functions),
    ("loads", "the app loads", check_loads),
    ("configured", "the app configures funcscope", check_configured),
    ("tracing-path", "funcscope traces every function on the worker the app gets", check_tracing_path),
    ("exporter", "the exporter settings are complete and valid", check_exporter),
    ("sampler", "the tracer provider's sampler follows the host's sampling decision", check_sampler),
    ("worker-counts", "thread and process counts are in range", check_worker_counts),
    ("funcscope-messages", "funcscope reports nothing while the app loads", check_funcscope_messages),
]
