def main(events):
    return events
