"""``nl2sql shell``: a place to live in while exploring a database in plain language.

A line is a question unless it starts like SQL (``select``, ``with``, …) or with a
backslash meta-command. Every command is registered once in :data:`COMMANDS`, and
``\\help`` is generated from that table. No error ever leaves the loop: it prints one
line and the prompt comes back.

The package: :mod:`.state` (what is remembered), :mod:`.registry` (the command table),
:mod:`.run` (one line), :mod:`.commands` (the meta-commands), :mod:`.export` (results to
files), :mod:`.completion` and :mod:`.loop` (interactive and piped input).
"""

from __future__ import annotations

from nl2sql.interfaces.shell import commands as _commands  # noqa: F401  (registers them)
from nl2sql.interfaces.shell.export import write as export
from nl2sql.interfaces.shell.loop import interactive, piped, start
from nl2sql.interfaces.shell.registry import COMMANDS, Command, command
from nl2sql.interfaces.shell.run import ask, is_sql, run_line, run_sql, show
from nl2sql.interfaces.shell.state import State

__all__ = ["COMMANDS", "Command", "State", "ask", "command", "export", "interactive",
           "is_sql", "piped", "run_line", "run_sql", "show", "start"]
