import azure.functions as func

from ..shared_setup import delivered


def main(msg: func.QueueMessage) -> None:
    delivered.quiet("Order")
