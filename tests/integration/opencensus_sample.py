"""The developer reference's OpenCensus sample (`apps/opencensus_sample`), made to run on funcscope's drop-in or on
the original extension: shared by the emulator's and the real worker's end-to-end tests."""

from __future__ import annotations

import difflib
import re
import shutil
import socket
from pathlib import Path
from urllib.parse import quote

from .conftest import APPS

SAMPLE = APPS / "opencensus_sample"
FUNCSCOPE_IMPORT = "from funcscope.opencensus import OpenCensusExtension"
ORIGINAL_IMPORT = "from opencensus.extension.azure.functions import OpenCensusExtension"
# (function, the call succeeds)
CASES = [("HttpTrigger", True), ("HttpTriggerAsync", True), ("HttpTrigger", False), ("HttpTriggerAsync", False)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sample_on(extension_import: str, app: Path) -> None:
    """The sample app at `app`, importing the extension with `extension_import`: only that line differs."""
    if app.exists():
        shutil.rmtree(app)
    shutil.copytree(SAMPLE, app)
    for script in app.glob("*/__init__.py"):
        text = script.read_text()
        changed = text.replace(FUNCSCOPE_IMPORT, extension_import)
        diff = [line for line in difflib.ndiff(text.splitlines(), changed.splitlines()) if line[:1] in "+-"]
        assert diff == (
            [] if extension_import == FUNCSCOPE_IMPORT else [f"- {FUNCSCOPE_IMPORT}", f"+ {ORIGINAL_IMPORT}"]
        )
        script.write_text(changed)


def without_addresses(error: str | None) -> str | None:
    return None if error is None else re.sub(r" at 0x[0-9a-f]+", "", error)


def calls(downstream_url: str, down_url: str) -> list[tuple[str, str, str]]:
    """(function, the URL it calls, quoted, invocation id) for each of `CASES`."""
    return [
        (
            name,
            quote(f"{downstream_url}/{name}" if succeeds else down_url, safe=""),
            f"00000000-0000-4000-8000-{n:012d}",
        )
        for n, (name, succeeds) in enumerate(CASES, 1)
    ]
