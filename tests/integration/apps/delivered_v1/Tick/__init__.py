import azure.functions as func

from ..shared_setup import delivered


def main(timer: func.TimerRequest) -> None:
    delivered.quiet("Tick")
