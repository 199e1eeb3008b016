"""Starts the real worker the way the host does, through its entry script, once the probe is in place.

    python launch.py WORKER_ENTRY_SCRIPT --host 127.0.0.1 --port N --workerId ID --requestId ID

The entry script (`python/test/worker.py` of the worker folder) then runs as `__main__` with the arguments that
follow it and its own folder as `sys.path[0]`, exactly as when the host starts it.
"""

import os
import runpy
import sys

import probe

if __name__ == "__main__":
    entry = os.path.abspath(sys.argv[1])
    probe.start()
    sys.argv = [entry, *sys.argv[2:]]
    sys.path[0] = os.path.dirname(entry)
    runpy.run_path(entry, run_name="__main__")
