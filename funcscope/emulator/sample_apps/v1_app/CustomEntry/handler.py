import json
import logging

import azure.functions as func


def handle(request: func.HttpRequest) -> func.HttpResponse:
    try:
        data = request.get_json()
    except ValueError:
        return func.HttpResponse("expected a JSON body", status_code=400)
    logging.info("CustomEntry received %d keys", len(data))
    return func.HttpResponse(json.dumps({"keys": sorted(data)}), mimetype="application/json")
