"""Importing funcscope registers nothing; the extension classes register on first access."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, azure.functions as f
import funcscope
before = f.ExtensionMeta.get_registered_extensions_json()
ext = funcscope.FuncScopeExtension
after = f.ExtensionMeta.get_registered_extensions_json()
funcscope.FunctionScope  # a function-level extension registers only when instantiated
print(json.dumps([json.loads(before), json.loads(after)]))
"""


def test_import_registers_no_extension():
    out = subprocess.run([sys.executable, "-c", SCRIPT], check=True, capture_output=True, text=True).stdout
    before, after = json.loads(out)
    assert before == {}
    assert after == {"AppExtension": ["FuncScopeExtension"]}


def test_unknown_attribute():
    import pytest

    import funcscope

    with pytest.raises(AttributeError, match="Nope"):
        funcscope.Nope  # noqa: B018


def test_py_typed_ships():
    from importlib.resources import files

    assert files("funcscope").joinpath("py.typed").is_file()


LOADED = """
import json, sys
import {module}
roots = ("opentelemetry", "azure", "funcscope", "asyncio")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in roots)))
"""


def _loaded_by(module):
    script = LOADED.format(module=module)
    return json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout)


def test_import_funcscope_imports_nothing_else():
    assert _loaded_by("funcscope") == ["funcscope"]


def test_pytest_plugin_costs_no_more_than_pytest():
    # Loaded by every pytest run on a machine with funcscope installed: no SDK, no azure.functions, no asyncio.
    assert _loaded_by("funcscope.pytest_plugin") == ["funcscope", "funcscope.pytest_plugin"]


def test_public_names_load_on_first_use():
    import funcscope

    assert set(funcscope.__all__) <= set(dir(funcscope))
    assert funcscope.current() is None
    assert funcscope.Settings().enabled
    assert funcscope.RetryInfo.__name__ == "RetryInfo"
    assert "current" in vars(funcscope)  # kept once loaded: later lookups are plain attribute reads


def test_python_dash_m_runs_the_command_line():
    out = subprocess.run([sys.executable, "-m", "funcscope", "--version"], check=True, capture_output=True, text=True)
    import funcscope

    assert out.stdout.strip() == f"funcscope {funcscope.__version__}"


def test_metadata():
    from importlib.metadata import metadata

    from trove_classifiers import classifiers

    import funcscope

    meta = metadata("funcscope")
    assert meta["Version"] == funcscope.__version__  # one version, in funcscope/__init__.py
    declared = meta.get_all("Classifier")
    assert set(declared) <= classifiers, set(declared) - classifiers
    for kind in ("Development Status", "Topic", "Operating System", "Framework"):
        assert any(c.startswith(kind + " ::") for c in declared), kind
    assert "azure-functions" in meta["Keywords"].split(",")
