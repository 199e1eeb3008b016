"""Imported by every function of the v1 test app: in-memory telemetry, then funcscope's two lines."""

import funcscope
from tests.integration import capture

capture.install()
funcscope.configure()
