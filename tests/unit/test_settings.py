"""Settings: app settings with one warning for a bad value, configure() options with a clear error."""

from __future__ import annotations

import logging

import pytest

from funcscope import FunctionOptions, Settings
from funcscope.shared.diagnostics import forget_reports


@pytest.fixture(autouse=True)
def _fresh_reports():
    forget_reports()
    yield
    forget_reports()


def test_defaults():
    assert Settings.from_env({}) == Settings(enabled=True, sample_ratio=1.0, middleware=())


def test_from_env():
    s = Settings.from_env({"FUNCSCOPE_ENABLED": "false", "FUNCSCOPE_SAMPLE_RATIO": "0.25"})
    assert (s.enabled, s.sample_ratio) == (False, 0.25)


@pytest.mark.parametrize(
    "env, field, default",
    [
        ({"FUNCSCOPE_ENABLED": "maybe"}, "enabled", True),
        ({"FUNCSCOPE_SAMPLE_RATIO": "lots"}, "sample_ratio", 1.0),
        ({"FUNCSCOPE_SAMPLE_RATIO": "1.5"}, "sample_ratio", 1.0),
        ({"FUNCSCOPE_SAMPLE_RATIO": "-0.1"}, "sample_ratio", 1.0),
    ],
)
def test_bad_env_value_gives_default_and_one_warning(env, field, default, caplog):
    caplog.set_level(logging.WARNING, logger="funcscope")
    for _ in range(3):
        assert getattr(Settings.from_env(env), field) == default
    warnings = [r.getMessage() for r in caplog.records if r.name == "funcscope"]
    assert len(warnings) == 1 and next(iter(env)) in warnings[0]


def test_with_options():
    class Mw:
        def before(self, invocation): ...

    mw = Mw()
    s = Settings().with_options(sample_ratio=0, middleware=[mw])
    assert s.sample_ratio == 0.0 and s.middleware == (mw,)


@pytest.mark.parametrize(
    "options, error, text",
    [
        ({"sampel_ratio": 0.5}, TypeError, "sampel_ratio"),
        ({"sample_ratio": 2}, ValueError, "sample_ratio"),
        ({"sample_ratio": "0.5"}, ValueError, "sample_ratio"),
        ({"enabled": "yes"}, TypeError, "enabled"),
        ({"middleware": "trace"}, TypeError, "middleware"),
        ({"middleware": [object()]}, TypeError, "before()"),
    ],
)
def test_bad_options_raise_clearly(options, error, text):
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        Settings().with_options(**options)


def test_function_options_validation():
    assert FunctionOptions(sample_ratio=0.5, attributes={"team": "a"}).attributes == {"team": "a"}
    with pytest.raises(ValueError):
        FunctionOptions(sample_ratio=3)
    with pytest.raises(TypeError):
        FunctionOptions(attributes={1: "x"})
    with pytest.raises(TypeError):
        FunctionOptions(tracing="off")
