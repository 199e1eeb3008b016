"""The one exception type the emulator raises for bad input or a broken app."""

from __future__ import annotations

__all__ = ["EmulatorError", "RemoteException", "Unpicklable"]


class EmulatorError(Exception):
    """An app, payload or call the emulator cannot run; the message says what and where."""


class RemoteException(Exception):
    """Stands in for an exception raised in a worker process that could not be sent back as is."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(type_name, message)
        self.type_name = type_name
        self.message = message

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}"


class Unpicklable:
    """Stands in for a value from a worker process that could not be pickled."""

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"<unpicklable {self.type_name}: {self.text}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Unpicklable):
            return NotImplemented
        return (self.type_name, self.text) == (other.type_name, other.text)

    def __hash__(self) -> int:
        return hash((self.type_name, self.text))
