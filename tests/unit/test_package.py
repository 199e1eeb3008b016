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
