"""Tab completion: meta-commands after a backslash; tables, columns and known values
elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from nl2sql.interfaces.shell.registry import COMMANDS
from nl2sql.interfaces.shell.state import State


def completion_words(state: State) -> list[str]:
    """Tables, columns and value aliases of the catalog (for completion)."""
    words: list[str] = []
    for t in state.session.drafting_catalog.tables.values():
        words.append(t.name)
        for c in t.columns:
            words.append(c.name)
            words += [alias for stored, aliases in c.values.items() for alias in [stored, *aliases]]
            if c.profile and not c.tags.get("pii"):
                words += [v for v, _ in c.profile.top_values]
    return list(dict.fromkeys(w for w in words if w))


def make_completer(state: State) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    words = completion_words(state)

    class ShellCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            before = document.text_before_cursor
            if before.startswith("\\") and " " not in before:
                for name in COMMANDS:
                    if name.startswith(before[1:].lower()):
                        yield Completion("\\" + name, start_position=-len(before))
                return
            match = re.search(r"[\w\u4e00-\u9fff.]+$", before)
            word = match.group(0) if match else ""
            if not word:
                return
            word = word.split(".")[-1]
            lowered = word.lower()
            for candidate in words:
                if candidate.lower().startswith(lowered) and candidate != word:
                    yield Completion(candidate, start_position=-len(word))

    return ShellCompleter()
