"""``nl2sql themes`` and ``nl2sql search`` (and ``\\search``) as listings for the one
emitter: the JSON document is the run's ``to_json()``, the table shows the themes or the
matches, and the notes go below it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nl2sql.interfaces.output import Column, Fit, Listing, Output


def _share(value: Any) -> str:
    return "" if value is None else f"{float(value):.1%}"


def _score(value: Any) -> str:
    return "" if value is None else f"{float(value):.3f}"


def _listed(value: Any) -> str:
    return " · ".join(str(v) for v in value or [])


THEME_COLUMNS = [Column("theme_id", "INTEGER", Fit.KEEP), Column("name", "VARCHAR", Fit.SHRINK),
                 Column("size", "BIGINT", Fit.KEEP), Column("share", "DOUBLE", Fit.KEEP,
                                                            show=_share),
                 Column("keywords", "VARCHAR", Fit.SHRINK, show=_listed, drop=2),
                 Column("example", "VARCHAR", Fit.FREE)]


def themes_output(outcome: Any) -> Output:
    """One row per theme (its first example); below: where the tables went, notes."""
    from rich.text import Text

    rows = [[t.theme_id, t.name, t.size, t.share, t.keywords,
             t.examples[0] if t.examples else ""] for t in outcome.themes]
    chosen = (f"k={outcome.k} by silhouette ({outcome.silhouette:.3f})"
              if outcome.k_chosen_by == "silhouette" and outcome.silhouette is not None
              else f"k={outcome.k}")
    emb = outcome.embedding
    foot: list[Any] = [
        Text(f"{outcome.grouped:,} texts of {outcome.source} in {outcome.k} themes ({chosen}); "
             f"embedded {emb['embedded']:,} new, {emb['cached']:,} from the workspace "
             f"({emb['model']}) in {outcome.elapsed_s:.1f} s", style="dim"),
        Text(f"written: {outcome.themes_table}, {outcome.members_table} in {outcome.workspace} "
             f"(ask about them: nl2sql ask \"Which theme has the most "
             f"{outcome.source.split('.')[0].replace('_', ' ')}?\")", style="dim")]
    foot += [Text(f"note: {n}", style="yellow") for n in outcome.notes]
    return Output(Listing(THEME_COLUMNS, rows, title="themes"), outcome.to_json(), foot=foot)


def search_output(outcome: Any) -> Output:
    """One row per match, best first; below: how many texts were searched, notes."""
    from rich.text import Text

    columns = [Column("rank", "INTEGER", Fit.KEEP), Column(outcome.key, "VARCHAR", Fit.KEEP),
               Column("score", "DOUBLE", Fit.KEEP, show=_score),
               Column("text", "VARCHAR", Fit.FREE)]
    rows = [[m.rank, m.key, m.score, " ".join(m.text.split())] for m in outcome.matches]
    emb = outcome.embedding
    foot: list[Any] = [Text(
        f"{len(outcome.matches)} of {outcome.searched:,} texts of {outcome.source} "
        f"({outcome.index} search; {emb['embedded']:,} embedded now, model {emb['model']}) "
        f"in {outcome.elapsed_s:.2f} s", style="dim")]
    foot += [Text(f"note: {n}", style="yellow") for n in outcome.notes]
    return Output(Listing(columns, rows, title=f"search: {outcome.query}"), outcome.to_json(),
                  foot=foot)


@contextmanager
def embedding_progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr while texts are embedded (a terminal only; the first run
    over a column embeds every text, the next ones only new texts)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    bar = Bar(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(),
              TimeRemainingColumn(), console=console, transient=True)
    task = bar.add_task("embedding", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update
