import azure.functions as func

from .. import shared_setup  # noqa: F401


def main(msg: func.QueueMessage) -> None:
    raise RuntimeError(f"cannot process {msg.id}")
