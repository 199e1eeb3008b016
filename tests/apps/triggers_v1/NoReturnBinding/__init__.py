def main(msg):
    return "a value the host has nowhere to put"
