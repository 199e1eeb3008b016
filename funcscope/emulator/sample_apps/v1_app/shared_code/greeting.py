"""Code shared by several functions, imported relatively from a function folder."""


def greet(name: str) -> str:
    return f"Hello, {name}!"
