"""An app's `local.settings.json`, read and applied as Azure Functions Core Tools applies it.

Core Tools puts every entry of `Values` into the environment of the host and the worker, except a name the shell
already set: the shell's value wins (it is how a developer overrides a setting for one run), and Core Tools says
so. A `null` value is left out and `""` is kept. Values are strings; a number or boolean is turned into its
JSON text, anything else is left out with a message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LOCAL_SETTINGS_FILE", "LocalSettings", "read_local_settings", "json_error"]

LOCAL_SETTINGS_FILE = "local.settings.json"


def json_error(path: Path, exc: json.JSONDecodeError) -> str:
    """One line naming the file, the position and what is wrong, for malformed JSON."""
    return f"{path.name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"


@dataclass
class LocalSettings:
    """What an app's `local.settings.json` holds (empty when there is none).

    `values`: the `Values` entries as strings; `problems`: what could not be read, each one sentence;
    `encrypted`: `IsEncrypted` is true, so the values cannot be read (`func settings decrypt` turns it off).
    """

    path: Path
    exists: bool = False
    values: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    encrypted: bool = False

    def effective(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a function app gets under Core Tools: these values under the shell's."""
        env = os.environ if environ is None else environ
        return {**self.values, **env}

    def to_apply(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The values Core Tools would set: those the shell has not set already."""
        env = os.environ if environ is None else environ
        return {k: v for k, v in self.values.items() if k not in env}

    def overridden(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Names the shell sets to a value other than the file's (the shell's wins)."""
        env = os.environ if environ is None else environ
        return sorted(k for k, v in self.values.items() if k in env and env[k] != v)


def read_local_settings(app_dir: str | os.PathLike[str]) -> LocalSettings:
    """Read `local.settings.json` in `app_dir`; never raises for a missing or malformed file."""
    path = Path(app_dir) / LOCAL_SETTINGS_FILE
    settings = LocalSettings(path)
    if not path.is_file():
        return settings
    settings.exists = True
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        settings.problems.append(json_error(path, exc))
        return settings
    except (OSError, UnicodeDecodeError) as exc:
        settings.problems.append(f"{path.name} cannot be read: {exc}")
        return settings
    if not isinstance(data, dict):
        settings.problems.append(f"{path.name} must hold a JSON object, not {type(data).__name__}")
        return settings
    if data.get("IsEncrypted") is True:
        settings.encrypted = True
        settings.problems.append(
            f"{path.name} is encrypted (IsEncrypted: true), so its values cannot be read here; "
            "`func settings decrypt` decrypts it"
        )
        return settings
    values = data.get("Values", {})
    if not isinstance(values, dict):
        settings.problems.append(f'{path.name}: "Values" must be an object of names to strings')
        return settings
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, str):
            settings.values[name] = value
        elif isinstance(value, (bool, int, float)):
            settings.values[name] = json.dumps(value)
        else:
            settings.problems.append(
                f'{path.name}: "Values.{name}" is a {type(value).__name__}, not a string; it is left out'
            )
    return settings
