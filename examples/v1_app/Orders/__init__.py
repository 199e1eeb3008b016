import logging
import threading

import azure.functions as func

from funcscope import FunctionScope

from .. import telemetry  # noqa: F401

scope = FunctionScope(__file__, attributes={"team": "orders"})


def audit(order_id: str) -> None:
    logging.info("audited order %s", order_id)  # a thread the function starts: attributed thanks to funcscope


def main(req: func.HttpRequest) -> func.HttpResponse:
    order_id = req.route_params.get("id", "unknown")
    worker = threading.Thread(target=audit, args=(order_id,))
    worker.start()
    worker.join()
    return func.HttpResponse(f"order {order_id} accepted", status_code=202)
