import logging

import azure.functions as func


def main(msg: func.QueueMessage, shipped: func.Out[str]) -> None:
    body = msg.get_body().decode("utf-8")
    logging.info("QueueWorker got message %s (dequeue count %s)", msg.id, msg.dequeue_count)
    shipped.set(f"shipped:{body}")
