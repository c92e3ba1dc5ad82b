"""The one output path: every command's result is a :class:`Listing` (columns and rows)
plus the JSON document of its public ``--format json`` shape, handed to :func:`emit`.

Formats are one enum, :class:`Format`; a command that offers fewer (``eval``: table or
json) or a document with formats of its own (the data dictionary) validates them with the
same :func:`choose`, so a bad ``--format`` reads the same everywhere.

People and scripts get different cells: tables and Markdown round floats and decimals to
two places (:func:`people_text`), CSV and JSON keep full precision. Tables fit the
console: free-text columns (a query, examples) give up width first, with an ellipsis;
labels next; short values (times, roles, decisions, numbers) never. ``wide`` shows every
value in full, wrapped inside its column.
"""

from __future__ import annotations

import csv
import decimal
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Literal

from nl2sql import column_types
from nl2sql.encoding import json_value, to_json
from nl2sql.errors import ConfigError


class Format(StrEnum):
    """How a result is printed (``--format``, the shell's ``\\format``)."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    MARKDOWN = "markdown"


ALL_FORMATS: tuple[Format, ...] = tuple(Format)


def choose(value: str, choices: Sequence[str], option: str = "--format") -> str:
    """``value`` when it is one of ``choices``, else a :class:`ConfigError` (exit 2) naming
    them; the one check behind every format option.

    >>> choose("csv", ["table", "csv"])
    'csv'
    """
    if value not in choices:
        raise ConfigError(f"{option} must be one of {', '.join(choices)}, not {value!r}")
    return value


def parse_format(value: str, allowed: Sequence[Format] = ALL_FORMATS,
                 option: str = "--format") -> Format:
    """The :class:`Format` named ``value``, when the command offers it."""
    return Format(choose(value, [f.value for f in allowed], option))


class Fit(Enum):
    """What a column gives up when a table is wider than the console."""

    KEEP = "keep"      # short values (time, role, decision, numbers): never cut
    SHRINK = "shrink"  # labels (names, kinds): cut after free text, with an ellipsis
    FREE = "free"      # free text (a query, examples): cut first, with an ellipsis


# The narrowest a column is cut to (when its values are wider than this).
MIN_WIDTH = {Fit.FREE: 16, Fit.SHRINK: 6}


@dataclass(frozen=True)
class Column:
    """A column of a listing: its name, SQL type (numbers are right-aligned and rounded
    for people) and how it fits; ``show`` overrides how people read its values."""

    name: str
    type: str = ""
    fit: Fit = Fit.SHRINK
    show: Callable[[Any], str] | None = None
    drop: int = 0  # > 0: hidden when even cut columns do not fit; the highest goes first

    @property
    def numeric(self) -> bool:
        return column_types.is_numeric(self.type)


@dataclass(frozen=True)
class Listing:
    """Columns and rows of raw values (numbers stay numbers until printed).

    ``null`` is how people see a missing value (CSV always writes an empty cell)."""

    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]
    title: str | None = None
    null: str = "NULL"


@dataclass(frozen=True)
class Output:
    """What a command prints: the listing, its JSON document, and for tables only what
    goes above it (the question, the SQL) and below it (a summary, notes)."""

    listing: Listing
    document: Any
    head: Sequence[Any] = field(default_factory=tuple)  # rich renderables
    foot: Sequence[Any] = field(default_factory=tuple)


# --- cells ----------------------------------------------------------------------------------


def machine_text(value: Any) -> str:
    """A cell for CSV: full precision, NULL as an empty cell, lists and maps as JSON."""
    if value is None:
        return ""
    converted = json_value(value)
    if isinstance(converted, (list, dict)):
        return json.dumps(converted, ensure_ascii=False)
    if isinstance(value, decimal.Decimal):
        return str(value)  # not through float: every digit
    return str(converted)


def rounded(value: float | decimal.Decimal) -> str:
    """A float or decimal for people: two decimals; tiny values keep two significant
    digits rather than reading as zero. No thousands separators (integers have none
    either: ids and years must read as themselves).

    >>> rounded(2.0 / 3), rounded(decimal.Decimal("1234.5")), rounded(0.000123)
    ('0.67', '1234.50', '0.00012')
    """
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return str(number)
    if number != 0 and abs(number) < 0.005:
        return f"{number:.2g}"
    return f"{number:.2f}"


def people_text(value: Any, column: Column, null: str = "NULL") -> str:
    """A cell for tables and Markdown: floats and decimals rounded to two places."""
    if column.show is not None:
        return column.show(value)
    if value is None:
        return null
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (float, decimal.Decimal)):
        return rounded(value)
    return machine_text(value)


# --- the text formats -----------------------------------------------------------------------


def csv_text(listing: Listing) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in listing.columns])
    writer.writerows([machine_text(v) for v in row] for row in listing.rows)
    return out.getvalue()


def markdown_text(listing: Listing) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    columns = listing.columns
    lines = ["| " + " | ".join(cell(c.name) for c in columns) + " |",
             "|" + "|".join("---:" if c.numeric else "---" for c in columns) + "|"]
    lines += ["| " + " | ".join(cell(people_text(v, c, listing.null))
                                for v, c in zip(row, columns, strict=True)) + " |"
              for row in listing.rows]
    return "\n".join(lines) + "\n"


def text_of(output: Output, fmt: Format) -> str:
    """The CSV, JSON or Markdown text of ``output`` (a table needs a console)."""
    if fmt is Format.JSON:
        return to_json(output.document) + "\n"
    if fmt is Format.CSV:
        return csv_text(output.listing)
    if fmt is Format.MARKDOWN:
        return markdown_text(output.listing)
    raise ValueError("a table is printed on a console, not turned into text")


# --- tables ---------------------------------------------------------------------------------


def _flat(text: str) -> str:
    return " ".join(text.split()) if "\n" in text or "\t" in text else text


def fit_widths(natural: Sequence[int], fits: Sequence[Fit], room: int,
               cut: Sequence[Fit] = (Fit.FREE, Fit.SHRINK)) -> list[int]:
    """Column widths whose sum is at most ``room`` when cutting allows: the widest
    free-text column loses a character at a time, then the widest label; kept columns
    never shrink (the table is then wider than ``room``).

    >>> fit_widths([20, 50, 10], [Fit.KEEP, Fit.FREE, Fit.SHRINK], 60)
    [20, 30, 10]
    >>> fit_widths([20, 17, 30], [Fit.KEEP, Fit.FREE, Fit.SHRINK], 40)
    [20, 16, 6]
    """
    widths = list(natural)
    excess = sum(widths) - room
    for tier in cut:
        floor = MIN_WIDTH[tier]
        while excess > 0:
            cuttable = [i for i, f in enumerate(fits) if f is tier and widths[i] > floor]
            if not cuttable:
                break
            widest = max(cuttable, key=lambda i: widths[i])
            others = [widths[i] for i in cuttable if i != widest]
            # down to the next widest at once (or as far as needed)
            step = min(excess, widths[widest] - max([floor, *others]) or 1)
            widths[widest] -= step
            excess -= step
    return widths


@dataclass(frozen=True)
class _Style:
    """A box style and how many console columns it adds to ``n`` columns of cells."""

    heavy: bool

    def overhead(self, n: int) -> int:
        # heavy: "│ " + " │" per column, shared rules; compact: two spaces between columns
        return 3 * n + 1 if self.heavy else 2 * (n - 1)

    def grid(self, title: str | None) -> Any:
        from rich import box
        from rich.table import Table

        if self.heavy:
            return Table(title=title, header_style="bold")
        return Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False,
                     pad_edge=False, padding=(0, 1, 0, 0))


def layout(columns: Sequence[Column], natural: Sequence[int],
           width: int) -> tuple[_Style, list[int], list[int]]:
    """How a table fits ``width``: the box style, the columns shown (indexes) and their
    widths. Tried in turn, first cutting only free text, then labels too: the usual box, a
    compact one, the compact one with optional columns hidden (the most expendable
    first). Nothing fits: rich cuts what is left."""
    order = sorted((i for i, c in enumerate(columns) if c.drop),
                   key=lambda i: -columns[i].drop)
    heavy, compact = _Style(heavy=True), _Style(heavy=False)
    for cut in ((Fit.FREE,), (Fit.FREE, Fit.SHRINK)):
        shown = list(range(len(columns)))
        tries = [(heavy, shown), (compact, shown)]
        tries += [(compact, shown := [i for i in shown if i != hidden]) for hidden in order]
        for style, kept in tries:
            room = width - style.overhead(len(kept))
            widths = fit_widths([natural[i] for i in kept], [columns[i].fit for i in kept],
                                room, cut)
            if sum(widths) <= room:
                return style, kept, widths
    kept = [i for i in range(len(columns)) if i not in order]
    return compact, kept, fit_widths([natural[i] for i in kept], [columns[i].fit for i in kept],
                                     width - compact.overhead(len(kept)))


def table(listing: Listing, width: int, wide: bool = False) -> tuple[Any, list[str], int]:
    """``listing`` as a rich table that fits ``width`` console columns (see :func:`layout`),
    the names of the columns hidden to fit, and the width it takes. ``wide``: every column
    and value in full, however wide."""
    from rich.text import Text

    columns = listing.columns
    cells = [[people_text(v, c, listing.null) for v, c in zip(row, columns, strict=True)]
             for row in listing.rows]
    if not wide:
        cells = [[_flat(text) for text in row] for row in cells]
    natural = [max([_width(c.name), *(_width(row[i]) for row in cells)])
               for i, c in enumerate(columns)]
    if wide:
        style, shown, widths = _Style(heavy=True), list(range(len(columns))), natural
    else:
        style, shown, widths = layout(columns, natural, width)
    grid = style.grid(listing.title)
    for i, w in zip(shown, widths, strict=True):
        column = columns[i]
        justify: Literal["left", "right"] = "right" if column.numeric else "left"
        grid.add_column(Text(column.name), justify=justify, no_wrap=True, overflow="ellipsis",
                        width=w)
    for row, values in zip(cells, listing.rows, strict=True):  # Text: values are not markup
        grid.add_row(*(Text(row[i], style="dim italic" if values[i] is None else "")
                       for i in shown))
    hidden = [columns[i].name for i in range(len(columns)) if i not in shown]
    return grid, hidden, sum(widths) + style.overhead(len(shown))


def _width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


# --- the emitter ----------------------------------------------------------------------------


def emit(output: Output, fmt: Format, console: Any = None, wide: bool = False,
         wider: str = "--wide shows every column") -> None:
    """Print ``output`` on ``console`` (a rich Console; standard output when None) in ``fmt``.

    CSV, JSON and Markdown go to the console's file untouched (rich would expand tabs and
    wrap long lines); a table is drawn at the console's width, and ``wider`` tells how to
    see the columns hidden to fit it. Without a console, rich is imported only for a table:
    a script asking for CSV or JSON does not pay for it."""
    if fmt is not Format.TABLE:
        file = console.file if console is not None else sys.stdout
        file.write(text_of(output, fmt))
        file.flush()
        return
    if console is None:
        from rich.console import Console

        console = Console()
    for item in output.head:
        console.print(item, highlight=False)
    grid, hidden, needed = table(output.listing, console.width, wide=wide)
    if needed > console.width and wide:  # full values: as wide as they need
        from rich.console import Console

        Console(file=console.file, width=needed, color_system=console.color_system,
                force_terminal=console.is_terminal).print(grid)
    else:
        console.print(grid)
    if hidden:
        console.print(f"hidden at this width: {', '.join(hidden)} ({wider})",
                      style="dim", highlight=False)
    for item in output.foot:
        console.print(item, highlight=False)
