import azure.functions as func

from .. import shared_setup  # noqa: F401


def drain(message: func.ServiceBusMessage) -> str:
    return message.message_id
