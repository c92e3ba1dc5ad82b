"""The shell's input: a prompt_toolkit loop for people, one line at a time for pipes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from nl2sql import pipeline
from nl2sql.governance import audit
from nl2sql.interfaces.output import Format
from nl2sql.interfaces.shell.completion import make_completer
from nl2sql.interfaces.shell.run import is_sql, run_line
from nl2sql.interfaces.shell.state import State


def history_file(role: str) -> Path:
    """The history of ``role`` for this OS user: ``$XDG_DATA_HOME/nl2sql/history-<role>``
    (default ``~/.local/share``), in a 0700 folder, the file 0600. One file per role, so an
    analyst's Ctrl-R never recalls a steward's ``WHERE phone = '…'``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    folder = Path(base) / "nl2sql"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in role) or "default"
    path = folder / f"history-{safe}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a file left by an older version may be world-readable
    finally:
        os.close(fd)
    return path


def role_history(state: State) -> Any:
    """prompt_toolkit history that recalls the starting role's lines and files each new line
    under the role it was typed as (``\\role`` may switch mid-session)."""
    from prompt_toolkit.history import FileHistory

    class RoleHistory(FileHistory):
        def store_string(self, string: str) -> None:
            self.filename = str(history_file(state.session.access.role))
            super().store_string(string)

    return RoleHistory(str(history_file(state.session.access.role)))


def interactive(state: State) -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.sql import SqlLexer

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: Any) -> None:
        buffer = event.current_buffer
        text = buffer.text
        # SQL may span lines: it runs at ";" or on an empty line; questions run at once.
        if is_sql(text) and not text.rstrip().endswith(";") and not text.endswith("\n"):
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    prompt: Any = PromptSession(history=role_history(state), completer=make_completer(state),
                           lexer=PygmentsLexer(SqlLexer), key_bindings=bindings, multiline=True,
                           complete_while_typing=False)
    state.ask_yes_no = lambda text: prompt.prompt(text, multiline=False).strip().lower() in (
        "y", "yes", "是")
    name = state.session.catalog.name
    while not state.done:
        try:
            line = prompt.prompt(f"{name}> ", prompt_continuation=lambda w, n, s: "...> ")
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            break  # Ctrl-D
        run_line(state, line)


def piped(state: State, stream: TextIO | Iterable[str]) -> None:
    """Non-interactive use: run each line of ``stream``."""
    for line in stream:
        if state.done:
            break
        run_line(state, line)


def start(session: pipeline.Session, fmt: Format = Format.TABLE, drafter: str | None = None,
          stream: TextIO | None = None) -> None:
    from rich.console import Console

    console = Console()
    state = State(session=session, console=console, format=fmt, drafter=drafter,
                  auditor=audit.Auditor(session.settings.audit_log, audit.current_user(),
                                        session.catalog.name, session.source.kind, "shell",
                                        role=session.access.role, catalog=session.catalog))
    source = stream if stream is not None else sys.stdin
    if source.isatty() and sys.stdout.isatty():
        console.print(f"nl2sql shell · database {session.catalog.name} · "
                      f"{len(session.drafting_catalog.tables)} tables · role "
                      f"{session.access.role} · \\help for commands, Ctrl-D to leave",
                      style="dim")
        interactive(state)
    else:
        state.ask_yes_no = lambda _text: False  # nobody to ask: never run unseen model SQL
        piped(state, source)
