"""The front end's errors: each says what is wrong and where, in words an operator can act on."""

from __future__ import annotations


class RemediateError(Exception):
    """Base of the front end's errors."""


class ConfigError(RemediateError):
    """A configuration or routes file is wrong: the message names the file, the key and the problem."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


class PayloadError(RemediateError):
    """An Alertmanager payload that cannot be accepted (answered 400 or 422)."""

    def __init__(self, problem: str, status: int = 422) -> None:
        self.status = status
        super().__init__(problem)
