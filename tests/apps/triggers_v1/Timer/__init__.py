def main(timer):
    return timer
