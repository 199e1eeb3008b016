"""What `funcscope run` sends each function: a default per trigger, or the payload given on the command line.

`--payload` takes `JSON`, `@file` (JSON read from a file), `NAME=JSON` or `NAME=@file`, where NAME is a function
name or a trigger type (`http`, `httpTrigger`, `queue`, ...). The most specific one wins: the function's, then
its trigger's, then one given without a name; otherwise the default. Payload keys per trigger are those of
`funcscope.emulator.bindings`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..emulator.bindings import builds_trigger
from ..emulator.model import FunctionInfo

__all__ = ["PayloadError", "Payloads", "default_payload", "trigger_key"]

_ROUTE_PARAMETER = re.compile(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")
# NAME=... where NAME is spelled as Azure Functions allows function names; anything else is a bare payload.
_NAMED = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)=(.*)", re.DOTALL)


class PayloadError(ValueError):
    """A `--payload` that cannot be read or names nothing in the app; the message says which and why."""


def trigger_key(trigger_type: str) -> str:
    """`httpTrigger`, `HTTPTRIGGER` and `http` all name the same trigger."""
    key = trigger_type.lower()
    return key[: -len("trigger")] if key.endswith("trigger") else key


def default_payload(info: FunctionInfo, route_prefix: str = "api") -> Any:
    """A payload that invokes the function the way its trigger most plainly would, or None for the emulator's
    defaults. An HTTP function gets its first method and its route, each route parameter set to "1"."""
    trigger = next((b for b in info.bindings if b.get("name") == info.trigger_binding_name), {})
    if trigger_key(info.trigger_type) != "http":
        return None
    methods = trigger.get("methods") or ["GET"]
    route = str(trigger.get("route") or info.name).strip("/")
    params = {name: "1" for name in _ROUTE_PARAMETER.findall(route)}
    path = _ROUTE_PARAMETER.sub("1", route)
    prefix = route_prefix.strip("/")
    url = f"http://localhost:7071/{prefix + '/' if prefix else ''}{path}"
    return {"method": str(methods[0]).upper(), "url": url, "route_params": params}


def _read(text: str, what: str) -> Any:
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PayloadError(f"{what}: cannot read {path}: {exc}") from None
        what = f"{what} ({path})"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"{what}: not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


@dataclass
class Payloads:
    """The payloads given on the command line, by function name, by trigger, and for everything else."""

    by_name: dict[str, Any] = field(default_factory=dict)
    by_trigger: dict[str, Any] = field(default_factory=dict)
    bare: list[Any] = field(default_factory=list)
    _named: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: Iterable[str]) -> Payloads:
        """Read every `--payload`; names are resolved against the app by `resolve`."""
        payloads = cls()
        for option in options:
            text = option.strip()
            named = _NAMED.fullmatch(text)
            if named is None:
                payloads.bare.append(_read(text, f"--payload {option!r}"))
            else:
                name, value = named.groups()
                payloads._named[name] = _read(value.strip(), f"--payload {name}=...")
        if len(payloads.bare) > 1:
            raise PayloadError("--payload without a NAME= was given more than once; name the function or trigger")
        return payloads

    def resolve(self, functions: Mapping[str, FunctionInfo]) -> None:
        """Sort the named payloads into function names and trigger types; an unknown name is a PayloadError."""
        triggers = {trigger_key(info.trigger_type) for info in functions.values()}
        for name, value in self._named.items():
            if name in functions:
                self.by_name[name] = value
            elif trigger_key(name) in triggers:
                self.by_trigger[trigger_key(name)] = value
            else:
                raise PayloadError(
                    f"--payload {name}=...: this app has no function or trigger called {name!r} "
                    f"(functions: {', '.join(sorted(functions))}; triggers: {', '.join(sorted(triggers))})"
                )

    def given_for(self, info: FunctionInfo) -> tuple[bool, Any]:
        """(True, payload) when the command line gives this function a payload, else (False, None)."""
        if info.name in self.by_name:
            return True, self.by_name[info.name]
        key = trigger_key(info.trigger_type)
        if key in self.by_trigger:
            return True, self.by_trigger[key]
        if self.bare:
            return True, self.bare[0]
        return False, None

    def for_function(self, info: FunctionInfo, route_prefix: str = "api") -> Any:
        """The payload to send, or raise PayloadError when there is none the emulator could build from."""
        given, payload = self.given_for(info)
        if given:
            if trigger_key(info.trigger_type) == "http" and isinstance(payload, Mapping):
                # The function's own route (with host.json's prefix) and method unless the payload says otherwise.
                default = default_payload(info, route_prefix)
                payload = {"method": default["method"], "url": default["url"], **payload}
            return payload
        if not builds_trigger(info.trigger_type):
            raise PayloadError(
                f"the worker emulator cannot build a {info.trigger_type} argument; pass --payload "
                f"{info.name}=JSON to hand the function that value as is"
            )
        return default_payload(info, route_prefix)
