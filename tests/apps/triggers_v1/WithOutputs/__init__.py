import azure.functions as func


def main(msg: func.QueueMessage, extra, out1: func.Out[str], out2: func.Out[str], context):
    out1.set(msg.get_body().decode("utf-8").upper())
    return {"extra": extra, "out_types": [type(out1).__name__, isinstance(out2, func.Out)]}
