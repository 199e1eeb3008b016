import logging

import azure.functions as func

from funcscope import FunctionScope

from .. import telemetry  # noqa: F401

scope = FunctionScope(__file__, sample_ratio=1.0)


def main(timer: func.TimerRequest) -> None:
    logging.info("nightly run (past due: %s)", timer.past_due)
