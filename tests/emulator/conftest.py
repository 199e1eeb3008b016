import sys
from pathlib import Path

import pytest

_APPS = str(Path(__file__).resolve().parent.parent / "apps")
if _APPS not in sys.path:
    sys.path.insert(0, _APPS)

import apprecorder  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_records():
    apprecorder.clear()
    yield
    apprecorder.clear()
