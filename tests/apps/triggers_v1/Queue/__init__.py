def main(msg):
    return msg
