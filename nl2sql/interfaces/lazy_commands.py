"""The CLI's Click command with each subcommand built only when it is used: a start-up saving.

Typer turns every command function into a Click command before it parses the arguments:
it evaluates each function's annotations (``typing.get_type_hints``, which compiles every
annotation of a module using ``from __future__ import annotations``) and builds every option.
For ten commands that was about 15-45 ms of a one-shot ``nl2sql sql`` (measure with
``cProfile`` around ``typer.main.get_command``), spent on nine commands that do not run.

:func:`click_command` builds the group without its commands and gives it a mapping that
builds a command the first time it is looked up. Names, order, help listings and Typer's
"did you mean" suggestions are unchanged: they read the same mapping. When Typer's internals
are not where this expects them, it falls back to Typer's own ``get_command``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import typer


class LazyCommands(MutableMapping[str, Any]):
    """``name -> Click command``, building each command on first access."""

    def __init__(self, pending: dict[str, Any], build: Callable[[Any], Any]) -> None:
        self._pending = pending  # name -> Typer's CommandInfo, in registration order
        self._built: dict[str, Any] = {}
        self._order = list(pending)
        self._build = build

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            info = self._pending.pop(name)  # KeyError for an unknown name, as a dict
            self._built[name] = self._build(info)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._order:
            self._order.append(name)
        self._pending.pop(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._built and name not in self._pending:
            raise KeyError(name)
        self._built.pop(name, None)
        self._pending.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._pending

    @property
    def built(self) -> list[str]:
        """Names of the commands built so far (for tests)."""
        return list(self._built)


def click_command(app: typer.Typer) -> Any:
    """``typer.main.get_command(app)``, with the subcommands built on demand."""
    from typer import main as typer_main

    build_one = getattr(typer_main, "get_command_from_info", None)
    name_of = getattr(typer_main, "get_command_name", None)
    has_callback = app.registered_callback is not None or app.info.callback is not None
    if build_one is None or name_of is None or app.registered_groups or not has_callback:
        return typer_main.get_command(app)
    pending: dict[str, Any] = {}
    for info in app.registered_commands:
        if info.callback is None:  # pragma: no cover - Typer refuses these itself
            return typer_main.get_command(app)
        pending[info.name or name_of(info.callback.__name__)] = info
    bare = copy.copy(app)
    bare.registered_commands = []
    group: Any = typer_main.get_command(bare)  # the callback's options, no subcommands yet
    if not isinstance(getattr(group, "commands", None), dict) or group.commands:
        return typer_main.get_command(app)

    def build(info: Any) -> Any:
        return build_one(info, pretty_exceptions_short=app.pretty_exceptions_short,
                         rich_markup_mode=app.rich_markup_mode)

    group.commands = LazyCommands(pending, build)
    return group
