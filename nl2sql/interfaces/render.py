"""Stage 8 — the answer for people and scripts, through the one emitter (:mod:`output`).

``--format json`` prints one object whose keys are public interface; values are converted
to JSON types (decimals to numbers, dates to ISO text). A table shows the question, the
SQL and a summary line around the rows.
"""

from __future__ import annotations

from typing import Any

from nl2sql import column_types
from nl2sql.encoding import to_json  # noqa: F401  (render.to_json)
from nl2sql.interfaces.output import Column, Fit, Format, Listing, Output, emit, text_of
from nl2sql.values import Answer, Reading


def fit_of(type_name: str) -> Fit:
    """Text gives up width first; numbers and times never (a cut number misleads)."""
    kind = column_types.kind_of(type_name)
    if kind in ("integer", "decimal", "temporal", "boolean", "interval"):
        return Fit.KEEP
    return Fit.FREE if kind in ("text", "json", "list", "struct") else Fit.SHRINK


class SqlText:
    """SQL for a person: highlighted on a colour terminal, plain text elsewhere.

    Highlighting imports Pygments (tens of milliseconds); a piped or scripted run, which
    shows no colour anyway, does not pay for it.
    """

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def __rich_console__(self, console: Any, options: Any) -> Any:
        if console.is_terminal and console.color_system is not None:
            from rich.syntax import Syntax

            yield Syntax(self.sql, "sql", word_wrap=True, theme="ansi_dark")
        else:
            from rich.text import Text

            yield Text(self.sql)


def answer_listing(answer: Answer) -> Listing:
    types = list(answer.types) + [""] * (len(answer.columns) - len(answer.types))
    return Listing([Column(name, type_, fit_of(type_))
                    for name, type_ in zip(answer.columns, types, strict=False)], answer.rows)


def answer_output(answer: Answer, show_sql: bool = True, for_people: bool = True) -> Output:
    """The answer for the emitter; ``for_people`` adds the question, SQL and notes around
    the table (rich renderables, so a CSV or JSON run skips importing rich)."""
    if not for_people:
        return Output(answer_listing(answer), answer.to_json())
    from rich.text import Text

    head: list[Any] = []
    if answer.question:
        head.append(Text.assemble(("Q:", "bold"), " ", answer.question))
    if answer.interpretation:
        head.append(Text.assemble(("Understood as:", "dim"), " ", understood(answer)))
    if show_sql:
        head.append(SqlText(answer.sql))
    foot: list[Any] = [Text(summary_line(answer), style="dim")]
    foot += [Text(f"note: {note}", style="yellow") for note in answer.notes
             if not note.startswith("LIMIT")]
    return Output(answer_listing(answer), answer.to_json(), head, foot)


def understood(answer: Answer) -> str:
    """The interpretation and what was assumed for it ("…, grouped by products.category
    (assumed: time column orders.order_date)"), for the "Understood as:" line."""
    text = answer.interpretation or ""
    if answer.assumptions:
        text += f" (assumed: {'; '.join(answer.assumptions)})"
    return text


def readings_text(readings: list[Reading]) -> str:
    """The readings of an ambiguous question as a numbered list: the interpretation, then
    the SQL, indented (under a decline's one-line message)."""
    lines = []
    for number, reading in enumerate(readings, 1):
        lines.append(f"  {number}. {reading.understood}")
        lines.append(f"     {reading.sql}")
    return "\n".join(lines)


def show_answer(answer: Answer, fmt: Format, console: Any = None, wide: bool = False) -> None:
    emit(answer_output(answer, for_people=fmt is Format.TABLE), fmt, console, wide=wide)


def answer_text(answer: Answer, fmt: Format) -> str:
    """CSV, JSON or Markdown text of an answer (``\\export``)."""
    return text_of(answer_output(answer, show_sql=False), fmt)


def summary_line(answer: Answer) -> str:
    more = " (truncated at the row limit)" if answer.truncated else ""
    tries = f" · {len(answer.attempts)} attempts" if len(answer.attempts) > 1 else ""
    tokens = answer.prompt_tokens + answer.completion_tokens
    token_text = f" · {tokens} tokens" if tokens else ""
    return (f"{answer.row_count} row{'s' if answer.row_count != 1 else ''}{more} · "
            f"{answer.elapsed_ms:.0f} ms · drafter: {answer.drafter}{tries}{token_text}")
