"""Running one line: a meta-command, SQL, or a question (a follow-up refines the last).

No error ever leaves :func:`run_line`: it prints one line and the prompt comes back.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from nl2sql import pipeline
from nl2sql.drafting.offline import followup
from nl2sql.drafting.prompt import Turn
from nl2sql.errors import ConfigError, DrafterDeclined, NL2SQLError
from nl2sql.interfaces import render
from nl2sql.interfaces.output import Format
from nl2sql.interfaces.shell.registry import COMMANDS
from nl2sql.interfaces.shell.state import Offered, State, audited
from nl2sql.values import Answer

SQL_STARTS = ("select", "with", "from", "values", "(", "table", "explain", "pivot", "summarize",
              "insert", "update", "delete", "create", "drop", "alter", "copy", "attach", "set",
              "pragma", "call", "install", "load", "show", "describe")


def is_sql(line: str) -> bool:
    """True when a line starts like SQL rather than like a question."""
    word = re.split(r"\s+", line.strip().lower(), maxsplit=1)[0] if line.strip() else ""
    return word.startswith(SQL_STARTS) and word.rstrip("(") in {s.rstrip("(") for s in SQL_STARTS}


def run_line(state: State, line: str) -> None:
    """Run one line; every failure becomes one printed line."""
    text = line.strip()
    if not text or text.startswith("--"):
        return
    state.history.append(text)
    offered, state.offered = state.offered, None  # readings are for the very next line
    try:
        if offered is not None and text.isdigit() and 1 <= int(text) <= offered.count:
            run_reading(state, offered.question, int(text))
        elif text.startswith("\\"):
            name, _, arg = text[1:].partition(" ")
            cmd = COMMANDS.get(name.lower())
            if cmd is None:
                raise ConfigError(f"unknown command \\{name}; \\help lists them")
            cmd.run(state, arg.strip())
        elif is_sql(text):
            run_sql(state, text.rstrip(";"))
        else:
            ask(state, text)
    except NL2SQLError as exc:
        rule = exc.details.get("rule")
        tag = f" [{rule}]" if rule and rule != exc.kind else ""
        # soft_wrap: one line, never cut at the console width (scripts grep these)
        state.console.print(f"error ({exc.kind}){tag}: {exc.message}", style="red", markup=False,
                            highlight=False, soft_wrap=True)
        if isinstance(exc, DrafterDeclined) and exc.readings and state.offered is not None:
            state.console.print(render.readings_text(exc.readings), markup=False,
                                highlight=False, soft_wrap=True)
            state.console.print(f"type 1-{len(exc.readings)} to run that reading",
                                style="dim", highlight=False)
    except KeyboardInterrupt:
        state.console.print("cancelled", style="yellow")
    except Exception as exc:  # noqa: BLE001 - the shell must survive anything
        state.console.print(f"internal error: {type(exc).__name__}: {exc}", style="red",
                            markup=False, highlight=False, soft_wrap=True)


def show(state: State, answer: Answer) -> None:
    state.last = answer
    console = state.console
    tall = console.is_terminal and answer.row_count > max(console.height - 8, 10)
    if state.format is Format.TABLE and tall:
        with console.pager(styles=True):
            render.show_answer(answer, state.format, console)
    else:
        render.show_answer(answer, state.format, console)


def run_sql(state: State, sql: str) -> None:
    answer = audited(state, sql, lambda: pipeline.run_sql(state.session, sql, row_limit=state.limit),
                      is_sql=True, drafter="user")
    show(state, answer)
    state.turns.append(Turn(question=f"(SQL) {sql}", sql=answer.sql))


def ask(state: State, question: str) -> None:
    """A question, or a follow-up that refines the previous one."""
    kind = pipeline.choose_drafter(state.session.settings, state.drafter)
    asked = question
    if kind == "offline" and state.questions:
        asked = followup.refine_question(state.questions[-1], question,
                                state.session.drafting_catalog) or question
    approve = _approver(state) if state.confirm else None
    try:
        answer = audited(state, asked, lambda: _draft_and_run(state, kind, asked, approve),
                         is_sql=False, drafter=kind)
    except DrafterDeclined as exc:
        if exc.readings:  # ambiguous: the next line may pick one by its number
            state.offered = Offered(asked, len(exc.readings))
        raise
    if asked != question:
        answer.notes.insert(0, f"follow-up read as: {asked}")
    show(state, answer)
    state.questions.append(asked)
    state.turns.append(Turn(question=question, sql=answer.sql))


def run_reading(state: State, question: str, number: int) -> None:
    """Run the reading numbered ``number`` of a question declined as ambiguous: drafted
    again (deterministic: the same reading), then guarded, masked and audited under the
    session's role like any question."""
    answer = audited(state, question, lambda: pipeline.ask(
        state.session, question, row_limit=state.limit, reading=number),
        is_sql=False, drafter="offline")
    show(state, answer)
    state.questions.append(question)
    state.turns.append(Turn(question=question, sql=answer.sql))


def _draft_and_run(state: State, kind: str, question: str,
                   approve: Callable[[str], bool] | None) -> Answer:
    if kind == "model":
        with state.console.status("asking the model…", spinner="dots"):
            return pipeline.ask(state.session, question, conversation=state.turns[-6:],
                                drafter=state.drafter, row_limit=state.limit, approve=approve)
    return pipeline.ask(state.session, question, drafter=state.drafter, row_limit=state.limit)


def _approver(state: State) -> Callable[[str], bool]:
    def approve(sql: str) -> bool:
        state.console.print(render.SqlText(sql))
        return state.ask_yes_no("run this query? [y/N] ")
    return approve
