def main(blob):
    return blob
