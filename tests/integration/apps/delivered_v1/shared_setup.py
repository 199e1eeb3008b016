"""Imported by every function of the v1 test app: funcscope's two lines, then the calls the functions make."""

import funcscope

funcscope.configure()

from tests.integration import delivered  # noqa: E402, F401 - after configure(), as an app imports its libraries
