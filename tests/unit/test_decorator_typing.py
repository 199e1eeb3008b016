"""`@funcscope.function` keeps the decorated function's type for type checkers (mypy, as `make test` runs it)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

SNIPPET = """
import azure.functions as func

import funcscope


@funcscope.function
def bare(req: func.HttpRequest, retries: int = 1) -> func.HttpResponse:
    return func.HttpResponse("ok")


@funcscope.function(sample_ratio=0.5, attributes={"team": "orders"})
async def called(req: func.HttpRequest, context: func.Context) -> str:
    return context.invocation_id


reveal_type(bare)
reveal_type(called)
bare("not a request")
"""


def test_decorated_functions_keep_their_signatures(tmp_path: Path) -> None:
    snippet = tmp_path / "app_types.py"
    snippet.write_text(textwrap.dedent(SNIPPET))
    out, err, status = mypy_api.run(["--no-error-summary", "--hide-error-context", str(snippet)])
    # Older mypy spells builtins in full.
    lines = [line.split(": ", 1)[1].replace("builtins.", "") for line in out.splitlines() if ": " in line]
    assert (
        'note: Revealed type is "def (req: azure.functions._http.HttpRequest, retries: int =) -> '
        'azure.functions._http.HttpResponse"' in lines
    ), out
    assert (
        'note: Revealed type is "def (req: azure.functions._http.HttpRequest, context: azure.functions._abc.Context) '
        '-> typing.Coroutine[Any, Any, str]"' in lines
    ), out
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and '"bare" has incompatible type "str"' in errors[0], out
