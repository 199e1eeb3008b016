def main(req):
    return req
