"""Stage 8 — the answer: tables, CSV, JSON and Markdown for people and scripts.

``--format json`` prints one object whose keys are public interface; values
are converted to JSON types (decimals to numbers, dates to ISO text).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from nl2sql.encoding import json_value, to_json  # noqa: F401  (render.to_json)
from nl2sql.values import Answer

FORMATS = ("table", "csv", "json", "markdown")


def answer_json(answer: Answer) -> str:
    return to_json(answer.to_json())


def text_value(value: Any) -> str:
    """A cell as text for CSV and Markdown (NULL is empty in CSV)."""
    if value is None:
        return ""
    converted = json_value(value)
    if isinstance(converted, (list, dict)):
        return json.dumps(converted, ensure_ascii=False)
    return str(converted)


def answer_csv(answer: Answer) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(answer.columns)
    writer.writerows([text_value(v) for v in row] for row in answer.rows)
    return out.getvalue()


def answer_markdown(answer: Answer) -> str:
    def cell(value: Any) -> str:
        text = "NULL" if value is None else text_value(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in answer.columns) + " |",
             "|" + "|".join("---" for _ in answer.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in answer.rows]
    return "\n".join(lines) + "\n"


def answer_table(answer: Answer, console: Any, show_sql: bool = True) -> None:
    """Print a rich table with the SQL above and a summary line below."""
    from rich.syntax import Syntax
    from rich.table import Table

    if answer.question:
        console.print(f"[bold]Q:[/bold] {_escape(answer.question)}", highlight=False)
    if answer.interpretation:
        console.print(f"[dim]Understood as:[/dim] {_escape(answer.interpretation)}", highlight=False)
    if show_sql:
        console.print(Syntax(answer.sql, "sql", word_wrap=True, theme="ansi_dark"))
    table = Table(show_lines=False, header_style="bold")
    for name, type_ in zip(answer.columns, answer.types, strict=False):
        numeric = any(t in type_.upper() for t in ("INT", "DECIMAL", "DOUBLE", "FLOAT", "REAL",
                                                   "NUMERIC"))
        table.add_column(_escape(name), justify="right" if numeric else "left", overflow="ellipsis",
                         max_width=60)
    for row in answer.rows:
        table.add_row(*("[dim italic]NULL[/]" if v is None else _escape(text_value(v))
                        for v in row))
    console.print(table)
    console.print(summary_line(answer), style="dim", highlight=False)
    for note in answer.notes:
        if not note.startswith("LIMIT"):
            console.print(f"note: {_escape(note)}", style="yellow", highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def summary_line(answer: Answer) -> str:
    more = " (truncated at the row limit)" if answer.truncated else ""
    tries = f" · {len(answer.attempts)} attempts" if len(answer.attempts) > 1 else ""
    tokens = answer.prompt_tokens + answer.completion_tokens
    token_text = f" · {tokens} tokens" if tokens else ""
    return (f"{answer.row_count} row{'s' if answer.row_count != 1 else ''}{more} · "
            f"{answer.elapsed_ms:.0f} ms · drafter: {answer.drafter}{tries}{token_text}")
