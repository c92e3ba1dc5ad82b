"""The meta-commands' registry: every ``\\command`` is registered once, and ``\\help``,
completion and the line runner all read this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nl2sql.errors import ConfigError
from nl2sql.interfaces.shell.state import State


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Callable[[State, str], None]


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, help_text: str) -> Callable[[Callable[[State, str], None]],
                                                                 Callable[[State, str], None]]:
    """Register a meta-command (its ``\\help`` line comes from here)."""
    def register(func: Callable[[State, str], None]) -> Callable[[State, str], None]:
        COMMANDS[name] = Command(name, usage, help_text, func)
        return func
    return register


def count(arg: str, default: int) -> int:
    """A command's optional positive number (``\\audit 5``)."""
    if not arg:
        return default
    if not arg.isdigit() or int(arg) < 1:
        raise ConfigError(f"expected a positive number, not {arg!r}")
    return int(arg)
