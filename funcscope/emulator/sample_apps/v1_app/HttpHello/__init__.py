import logging

import azure.functions as func

from ..shared_code.greeting import greet


def main(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name") or "world"
    logging.info("HttpHello greeting %s", name)
    return func.HttpResponse(greet(name), mimetype="text/plain")
