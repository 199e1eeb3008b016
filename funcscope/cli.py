"""funcscope's command line: `run` an app's functions locally and see their telemetry, a `demo` on the bundled
sample app, `doctor` to check an app's set-up, and `bench` to measure what funcscope costs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    from . import __version__
    from .bench.command import add_parser as add_bench_parser
    from .local.demo import add_parser as add_demo_parser
    from .local.doctor import add_parser as add_doctor_parser
    from .local.run import add_parser as add_run_parser

    parser = argparse.ArgumentParser(prog="funcscope", description=__doc__)
    parser.add_argument("--version", action="version", version=f"funcscope {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run_parser(commands)
    add_demo_parser(commands)
    add_doctor_parser(commands)
    add_bench_parser(commands)
    args = parser.parse_args(argv)
    try:
        status = int(args.run(args))
        sys.stdout.flush()  # a reader gone away shows here, not as a traceback at exit
    except BrokenPipeError:
        # The output's reader stopped reading (`funcscope doctor --json | head`): stop quietly, as shell tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
