"""The function wrapper (what the worker sees of it) and the process-wide wrapping's patches."""

from __future__ import annotations

import asyncio
import inspect
import sys
import types
import typing

import azure.functions as func
import pytest

import funcscope
from funcscope.instrumentation import function_wrapping
from funcscope.runtime.wrapper import is_traced, wrap_function

from .fakes import FakeContext


@pytest.fixture(autouse=True)
def _configured():
    """As after funcscope.configure(): every function is wrapped where no hook runs."""
    function_wrapping.instrument()
    yield
    function_wrapping.uninstrument()


def handler(req: func.HttpRequest, *, verbose: bool = False) -> func.HttpResponse:
    """The user's docstring."""
    return func.HttpResponse(str(verbose))


async def async_handler(req: func.HttpRequest, context: func.Context) -> str:
    return context.invocation_id


@pytest.mark.parametrize("fn", [handler, async_handler])
def test_the_wrapper_reads_as_the_users_function(fn):
    wrapped = wrap_function(fn)
    assert is_traced(wrapped) and wrapped.__wrapped__ is fn
    for name in ("__name__", "__qualname__", "__module__", "__doc__", "__annotations__", "__code__"):
        assert getattr(wrapped, name) == getattr(fn, name)
    assert inspect.iscoroutinefunction(wrapped) == inspect.iscoroutinefunction(fn)
    assert inspect.isfunction(wrapped) and inspect.getfile(wrapped) == inspect.getfile(fn)
    assert typing.get_type_hints(wrapped) == typing.get_type_hints(fn)
    own = inspect.signature(fn).parameters
    params = inspect.signature(wrapped).parameters
    assert list(params) == [*own, *(["context"] if "context" not in own else [])]  # before any **kwargs
    assert inspect.signature(wrapped).return_annotation == inspect.signature(fn).return_annotation


def test_the_context_is_handed_on_only_when_asked_for(spans):
    ctx = FakeContext(function_name="handler")
    response = wrap_function(handler)(func.HttpRequest("GET", "http://localhost/api/f", body=b""), context=ctx)
    assert response.get_body() == b"False"  # handler() was called without the context it does not take
    assert asyncio.run(wrap_function(async_handler)(None, context=ctx)) == ctx.invocation_id
    assert [s.name for s in spans.get_finished_spans()] == ["handler", "handler"]


def test_called_without_a_context_it_is_the_plain_function(spans):
    assert wrap_function(handler)(func.HttpRequest("GET", "http://localhost/api/f", body=b"")).status_code == 200
    assert spans.get_finished_spans() == ()


def test_the_decorator_keeps_the_function_and_wraps_once():
    decorated = funcscope.function(attributes={"team": "x"})(handler)
    bare = funcscope.function(handler)
    assert is_traced(decorated) and is_traced(bare) and decorated.__wrapped__ is handler
    assert function_wrapping.wrapped_function(decorated) is decorated  # never a wrapper around a wrapper


def _app() -> func.FunctionApp:
    app = func.FunctionApp()
    blueprint = func.Blueprint()

    @blueprint.route(route="bp")
    def on_blueprint(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("bp")

    @app.route(route="plain")
    def plain(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("plain")

    @app.route(route="decorated")
    @funcscope.function
    async def decorated(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("decorated")

    app.register_functions(blueprint)
    return app


def test_every_function_of_an_app_and_its_blueprints_is_read_wrapped():
    functions = {f.get_function_name(): f for f in _app().get_functions()}
    assert sorted(functions) == ["decorated", "on_blueprint", "plain"]
    callables = {name: f.get_user_function() for name, f in functions.items()}
    assert all(is_traced(fn) for fn in callables.values())
    assert functions["plain"].get_user_function() is callables["plain"]  # one wrapper however often asked
    assert not is_traced(callables["decorated"].__wrapped__)  # the decorator's wrapper, as it was


def test_uninstrument_restores_what_the_worker_reads():
    sdk = sys.modules[function_wrapping.SDK_MODULE]
    patched = vars(sdk.Function)["get_user_function"]
    function_wrapping.uninstrument()
    assert not function_wrapping.is_instrumented()
    original = vars(sdk.Function)["get_user_function"]
    assert original is patched.__wrapped__
    plain = {f.get_function_name(): f.get_user_function() for f in _app().get_functions()}["plain"]
    assert not is_traced(plain)
    function_wrapping.instrument()
    assert vars(sdk.Function)["get_user_function"] is not original


class _Registry:
    """The shape of a runtime's v1 registry: add_function(function_id, func, metadata, ...)."""

    def __init__(self) -> None:
        self.added: list[typing.Any] = []

    def add_function(self, function_id: str, func: typing.Any, metadata: typing.Any, protos: typing.Any) -> None:
        self.added.append(func)


def test_v1_entry_points_are_wrapped_as_the_runtime_adds_them(monkeypatch):
    module = types.ModuleType("azure_functions_runtime_v1.functions")
    module.Registry = _Registry  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure_functions_runtime_v1.functions", module)
    function_wrapping.instrument()  # patches the registry of a runtime imported since
    registry = _Registry()
    registry.add_function("id-1", handler, None, None)
    registry.add_function("id-2", func=async_handler, metadata=None, protos=None)
    assert [fn.__wrapped__ for fn in registry.added] == [handler, async_handler]
    function_wrapping.uninstrument()
    registry.add_function("id-3", handler, None, None)
    assert registry.added[-1] is handler


def test_one_function_alone_is_wrapped_for_its_function_scope(monkeypatch):
    """A v1 FunctionScope without configure(): its own function is traced, as its hooks would trace it."""
    module = types.ModuleType("azure_functions_runtime_v1.functions")
    module.Registry = _Registry  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure_functions_runtime_v1.functions", module)
    function_wrapping.uninstrument()
    function_wrapping.trace_function("Scoped")
    registry = _Registry()
    registry.add_function("id-1", handler, types.SimpleNamespace(name="Scoped"), None)
    registry.add_function("id-2", handler, types.SimpleNamespace(name="Other"), None)
    assert is_traced(registry.added[0]) and registry.added[1] is handler


@pytest.mark.parametrize("setting, hooks", [("1", True), ("true", True), ("0", False), (None, False)])
def test_on_the_classic_worker_the_hooks_decide(monkeypatch, setting, hooks):
    """The classic worker's own rule decides whether it runs hooks; where it does, nothing is wrapped."""
    common = types.ModuleType("azure_functions_worker.utils.common")
    common.is_envvar_true = lambda key: (setting or "").lower() in ("1", "true")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure_functions_worker.utils.common", common)
    monkeypatch.setitem(sys.modules, "azure_functions_worker.extension", types.ModuleType("extension"))
    assert function_wrapping.hooks_run() is hooks
    assert is_traced(function_wrapping.wrapped_function(handler)) is not hooks


def test_off_the_worker_no_hooks_run():
    assert function_wrapping.hooks_run() is False


@pytest.mark.parametrize("options", [{}, {"name": "wrong_place"}])
def test_the_decorator_above_the_apps_decorators_is_one_clear_error(options):
    app = func.FunctionApp()
    with pytest.raises(TypeError, match=r"put it directly above the def, below the app's decorators"):

        @funcscope.function(**options)
        @app.route(route="wrong_place")
        def wrong_place(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("x")
