import logging

import azure.functions as func


def main(timer: func.TimerRequest) -> None:
    if timer.past_due:
        logging.warning("TimerTick is running late")
    logging.info("TimerTick ran")
