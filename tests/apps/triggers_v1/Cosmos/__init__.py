def main(docs):
    return docs
