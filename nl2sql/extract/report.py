"""How ``nl2sql extract`` shows itself: progress bar, run summary, the ``--sample`` table.

Rendering only — the runner never prints; it reports :class:`Progress` snapshots and
returns an :class:`Outcome`.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nl2sql.extract.detectors import masked_text
from nl2sql.extract.runner import Outcome, Progress, Summary

TEXT_SHOWN = 120  # characters of each text in the sample table


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[Progress], None] | None]:
    """A rich progress bar on stderr (rows done, rate, tokens, estimated cost), when
    stderr is a terminal; else no callback at all."""
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    bar = Bar(TextColumn("extract"), BarColumn(), MofNCompleteColumn(),
              TextColumn("{task.fields[rate]} rows/s · {task.fields[tokens]} tokens"
                         "{task.fields[cost]}"), TimeRemainingColumn(),
              console=console, transient=True)
    task = bar.add_task("extract", total=None, rate="0", tokens="0", cost="")

    def update(p: Progress) -> None:
        rate = p.done / p.elapsed_s if p.elapsed_s > 0 else 0.0
        cost = f" · ~${p.cost_usd:,.4f}" if p.cost_usd is not None else ""
        bar.update(task, completed=p.done, total=p.total, rate=f"{rate:,.1f}",
                   tokens=f"{p.prompt_tokens + p.completion_tokens:,}", cost=cost)

    with bar:
        yield update


def summary_lines(s: Summary) -> list[str]:
    """The run in a few lines, for people."""
    statuses = ", ".join(f"{k} {v:,}" for k, v in s.status.items() if v)
    lines = [f"{s.table}: {s.written:,} rows written ({statuses or 'none'}) · "
             f"{s.already_done:,} already done · {s.from_cache:,} from the cache · "
             f"{s.selected:,} selected from {s.source}"]
    cost = f" · est. cost ${s.cost_usd:,.4f}" if s.cost_usd is not None else ""
    calls = (f"{s.requests:,} requests ({s.retries:,} retries, {s.rate_limited:,} rate-limited)"
             if s.requests else "no model requests")
    lines.append(f"model {s.model} · {calls} · tokens {s.prompt_tokens:,} in / "
                 f"{s.completion_tokens:,} out{cost} · {s.elapsed_s:.1f} s · "
                 f"{s.rows_per_s:,.1f} rows/s")
    if s.structured_output is False:
        lines.append("the server has no structured output: JSON was asked for in the text")
    lines.append(f"workspace {s.workspace}")
    lines += [f"note: {n}" for n in s.notes]
    return lines


def print_outcome(outcome: Outcome, fmt: str) -> None:
    """The summary (and the sample table for ``--sample``) on stdout."""
    from nl2sql.encoding import to_json

    if fmt == "json":
        data: dict[str, Any] = {"summary": outcome.summary.to_json()}
        if outcome.sample is not None:
            # the text exactly as the table shows it: personal data masked on every channel
            data["sample"] = [{"key": r.key, "text": masked_text(r.text or ""), "status": r.status,
                               "reason": r.reason, "values": _jsonable(r.values)}
                              for r in outcome.sample]
            data["projection"] = {"rows": outcome.projected_rows,
                                  "tokens": outcome.projected_tokens,
                                  "cost_usd": outcome.projected_cost_usd}
        sys.stdout.write(to_json(data) + "\n")
        return
    from rich.console import Console

    console = Console()
    if outcome.sample is not None:
        console.print(sample_table(outcome))
        console.print(_projection(outcome), highlight=False)
        console.print("sample only: nothing was written to the table; the answers are cached, "
                      "so the full run does not pay for them again", style="dim", highlight=False)
    for line in summary_lines(outcome.summary):
        console.print(line, highlight=False, soft_wrap=True)


def sample_table(outcome: Outcome) -> Any:
    """Text and extracted fields side by side (personal data in the text masked)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"sample of {outcome.summary.source} → {outcome.summary.table}",
                  header_style="bold", show_lines=True)
    table.add_column(outcome.summary.key, justify="right", no_wrap=True)
    table.add_column("text (personal data masked)", ratio=3, overflow="fold")
    table.add_column("status", no_wrap=True)
    for name in outcome.fields:
        table.add_column(name, overflow="fold")
    for row in outcome.sample or []:
        text = masked_text(row.text or "")
        shown = text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN - 1] + "…"
        status = row.status + (f": {row.reason}" if row.reason and row.status != "partial" else "")
        table.add_row(Text(str(row.key)), Text(" ".join(shown.split())), Text(status),
                      *(Text(cell(row.values.get(name))) for name in outcome.fields))
    return table


def cell(value: Any) -> str:
    """One value as the sample table shows it.

    >>> cell(None), cell(True), cell(["a", "b"]), cell(3)
    ('—', 'yes', 'a, b', '3')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def _projection(outcome: Outcome) -> str:
    if outcome.projected_tokens is None:
        return f"{outcome.projected_rows:,} rows selected; the sample asked the model nothing"
    cost = f" (~${outcome.projected_cost_usd:,.4f})" if outcome.projected_cost_usd is not None else ""
    return (f"projected for all {outcome.projected_rows:,} selected rows: "
            f"~{outcome.projected_tokens:,} tokens{cost}")


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}
