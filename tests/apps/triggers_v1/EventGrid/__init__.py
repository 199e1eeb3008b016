def main(event):
    return event
