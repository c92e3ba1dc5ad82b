"""The one exception hierarchy of nl2sql.

Stages raise these; only the CLI turns them into messages and exit codes.
Each class carries its ``kind`` (the stable name used in JSON output) and its
``exit_code`` so the mapping lives in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nl2sql.values import Reading


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (DuckDB and sqlglot errors run on for lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class NL2SQLError(Exception):
    """Base of every error the product raises on purpose."""

    kind = "error"
    exit_code = 1

    def __init__(self, message: str, **details: Any) -> None:
        # One line, always: messages often carry text from DuckDB or a server.
        message = " ".join(str(message).split())
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        """The ``{"kind", "message", ...}`` object printed under ``"error"``."""
        return {"kind": self.kind, "message": self.message, **self.details}


class ConfigError(NL2SQLError):
    """Bad flags, a broken ``.env``, a database that cannot be opened."""

    kind = "config"
    exit_code = 2


class RoleRefused(ConfigError):
    """The role asked for is not this user's (a ``users:`` limit): a configuration error
    for the caller (exit 2, kind ``config``), and a refusal for the audit log."""


class UnsafeSQL(NL2SQLError):
    """The guard refused a query; ``rule`` names the rule that refused it."""

    kind = "unsafe_sql"
    exit_code = 3

    def __init__(self, message: str, rule: str = "unsafe", **details: Any) -> None:
        super().__init__(message, rule=rule, **details)
        self.rule = rule


class UnknownIdentifier(UnsafeSQL):
    """A table or column that is not in the catalog (with close matches)."""

    kind = "unknown_identifier"

    def __init__(self, message: str, name: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message, rule="unknown_identifier", name=name,
                         suggestions=suggestions or [])
        self.name = name
        self.suggestions = suggestions or []


class InvalidSQL(UnsafeSQL):
    """The SQL does not parse: a syntax error, reported as an input error (exit 2), not a
    safety refusal. It stays an :class:`UnsafeSQL` because the guard did not accept it, so
    whatever handles the guard's verdict (the repair loop sends a model's draft back with
    the message) treats both alike; ``line`` and ``column`` say where parsing stopped."""

    kind = "syntax"
    exit_code = 2

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 ) -> None:
        super().__init__(message, rule="syntax", line=line, column=column)
        self.line = line
        self.column = column


class ExecutionError(NL2SQLError):
    """DuckDB raised an error while running an accepted query."""

    kind = "execution"
    exit_code = 4


class QueryTimeout(ExecutionError):
    """The query ran past its time limit and was interrupted."""

    kind = "timeout"


class ModelError(NL2SQLError):
    """The model service is unreachable, or its replies are unusable."""

    kind = "model"
    exit_code = 5


class ModelRefused(ModelError):
    """The model answered in prose instead of SQL (it could not answer)."""

    kind = "model_refused"


class DrafterDeclined(NL2SQLError):
    """The offline drafter could not map every part of the question, or found two or more
    readings of it and would not choose: ``readings`` lists them (``error.readings`` in
    JSON, a numbered list under the message in text)."""

    kind = "declined"
    exit_code = 6

    def __init__(self, message: str, readings: Sequence[Reading] = (), **details: Any) -> None:
        super().__init__(message, **details)
        self.readings = list(readings)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "readings": [r.to_json() for r in self.readings]}


class Interrupted(NL2SQLError):
    """The user pressed Ctrl-C."""

    kind = "interrupted"
    exit_code = 130
